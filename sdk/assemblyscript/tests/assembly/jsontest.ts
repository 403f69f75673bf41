// A test action for the SDK's own tests (e2e/sdk_as_test.go): each "op"
// exercises one part of the SDK and answers with what it saw.
import { Params, Result, JSONArray, JSONObject, parseJSON, jsonError, handle, context, log } from "../../index";
export * from "../../reactor";

let calls = 0;

// Kept across activations, to check that the garbage collector leaves
// reachable data alone.
const kept = new Array<string>();

function parseOp(p: Params): Result {
  const v = parseJSON(p.getString("text"));
  if (v === null) return Result.object().setBool("ok", false).setString("error", jsonError());
  const r = Result.object()
    .setBool("ok", true)
    .set("value", v)
    .setInt("kind", v.kind)
    .setString("json", v.toString());
  if (v.isNumber()) {
    r.setNumber("num", v.asNumber());
    // asInt answers its default for what is not a whole i64.
    if (v.asInt(0) == v.asInt(1)) r.setString("int", v.asInt().toString());
  }
  if (v.isString()) r.setInt("units", v.asString().length);
  return r;
}

function buildOp(): Result {
  const many = Result.object();
  for (let i = 0; i < 12; ++i) many.setInt("k" + i.toString(), i);
  many.setString("k3", "three");
  many.remove("k5");
  many.remove("missing");
  const arr = JSONArray.array()
    .pushInt(1)
    .pushString("two")
    .pushNull()
    .pushBool(true)
    .pushBool(false)
    .pushObject(Result.object().setArray("k", JSONArray.array()))
    .pushNumber(NaN);
  return Result.object()
    .setString("quote", "a\"b\\c/d")
    .setString("ctl", "\u0000\u0001\b\f\n\r\t\u001f\u007f")
    .setString("lone", String.fromCharCode(0xD800) + "x" + String.fromCharCode(0xDC00) + String.fromCharCode(0xDBFF))
    .setString("pair", "\u{1F680}")
    .setString("uni", "Zo\u00EB \u2014 \u65E5\u672C \u2028")
    .setNumber("nan", NaN)
    .setNumber("inf", -Infinity)
    .setInt("max", i64.MAX_VALUE)
    .setInt("min", i64.MIN_VALUE)
    .setNumber("neg0", -0.0)
    .setNumber("half", 0.5)
    .setNumber("whole", 3.0)
    .setNumber("tiny", 5e-324)
    .setNumber("huge", 1e300)
    .setArray("arr", arr)
    .setInt("dup", 1)
    .setInt("dup", 2)
    .setObject("many", many)
    .setBool("hasK3", many.has("k3"))
    .setBool("hasK5", many.has("k5"))
    .setString("k3", many.getString("k3"))
    .setInt("k11", many.getInt("k11"))
    .setString("wrongKind", many.getString("k11", "default"));
}

function main(p: Params): Result {
  calls++;
  const op = p.getString("op", "echo");
  if (op == "parse") return parseOp(p);
  if (op == "build") return buildOp();
  if (op == "garbage") {
    // Allocates and drops a lot, keeping a little.
    const n = <i32>p.getInt("n", 1000);
    let total = 0;
    for (let i = 0; i < n; ++i) {
      const o = Result.object().setString("s", "item " + i.toString()).setArray("a", JSONArray.array().pushInt(i));
      total += o.toString().length;
    }
    kept.push("call " + calls.toString());
    let ok = true;
    for (let i = 0; i < kept.length; ++i) ok = ok && kept[i].startsWith("call ");
    return Result.object().setInt("total", total).setInt("kept", kept.length).setBool("ok", ok).setInt("memory", <i64>memory.size() << 16);
  }
  if (op == "abort") throw new Error("deliberate failure");
  if (op == "io") {
    log("log line " + calls.toString());
    console.log("console.log line");
    console.error("console.error line");
    trace("trace line", 2, 1.5, 2);
    return Result.object().setNumber("random", Math.random()).setInt("now", Date.now()).setInt("deadlineLeft", context().remainingMs());
  }
  if (op == "context") {
    const c = context();
    return Result.object()
      .setString("activationId", c.activationId)
      .setString("namespace", c.namespace)
      .setString("actionName", c.actionName)
      .setString("actionVersion", c.actionVersion)
      .setString("apiHost", c.apiHost)
      .setInt("deadline", c.deadline);
  }
  return Result.object().setObject("echo", p).setInt("calls", calls).setInt("keys", p.size);
}

handle(main);
