import { JSONObject } from "./json";
import { nowNanos, CLOCK_REALTIME } from "./wasi";

/**
 * Context is the activation's context, which Wisp passes beside the
 * parameters (docs/wasm-abi.md). A field Wisp did not send is "" (or 0).
 */
export class Context {
  /** activationId is the activation's id, as in its record. */
  activationId: string = "";
  /** namespace is the namespace the action runs in. */
  namespace: string = "";
  /** actionName is the action's fully qualified name, "/namespace/[package/]action". */
  actionName: string = "";
  /** actionVersion is the action's version. */
  actionVersion: string = "";
  /** apiHost is the API host of the Wisp that runs the action. */
  apiHost: string = "";
  /** deadline is when the activation is stopped, in Unix milliseconds (0 if unknown). */
  deadline: i64 = 0;

  /** remainingMs is the time left until the deadline, in ms (i64.MAX_VALUE if unknown). */
  remainingMs(): i64 {
    if (this.deadline == 0) return i64.MAX_VALUE;
    return this.deadline - nowMs();
  }

  // fromJSON reads the context object; unknown keys are ignored.
  static fromJSON(o: JSONObject): Context {
    const c = new Context();
    c.activationId = o.getString("activationId");
    c.namespace = o.getString("namespace");
    c.actionName = o.getString("actionName");
    c.actionVersion = o.getString("actionVersion");
    c.apiHost = o.getString("apiHost");
    // Wisp sends the deadline as a string of digits, OpenWhisk's
    // __OW_DEADLINE; a number is accepted too.
    const d = o.get("deadline");
    if (d !== null) {
      if (d.isString()) c.deadline = parseDigits(d.asString());
      else c.deadline = d.asInt(0);
    }
    return c;
  }
}

function parseDigits(s: string): i64 {
  let v: i64 = 0;
  const n = s.length;
  if (n == 0 || n > 18) return 0;
  for (let i = 0; i < n; ++i) {
    const d = s.charCodeAt(i) - 0x30;
    if (d < 0 || d > 9) return 0;
    v = v * 10 + <i64>d;
  }
  return v;
}

/** nowMs is the wall-clock time in Unix milliseconds, from WASI. */
export function nowMs(): i64 {
  return nowNanos(CLOCK_REALTIME) / 1_000_000;
}
