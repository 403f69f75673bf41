// hello: a Wisp action in AssemblyScript.
//
//   {"name": "Ada"}  ->  {"greeting": "Hello, Ada!", ...}
//
// It shows parameters with a default, a log line, the activation's
// context, state kept by a warm instance, and an application error.
import { Params, Result, context, handle, log } from "@wispfaas/wisp-as";

// Globals live as long as the instance: Wisp reuses a warm instance for
// later activations of the same action (never for another action).
let calls: i32 = 0;

function main(params: Params): Result {
  calls++;
  const name = params.getString("name", "world");
  if (params.getBool("fail")) {
    // A result with "error" is an application error (HTTP 502 on a blocking invoke).
    return Result.error("failing as asked, " + name);
  }
  log("hi " + name);
  const ctx = context();
  return Result.object()
    .setString("greeting", "Hello, " + name + "!")
    .setInt("calls", calls)
    .setString("activationId", ctx.activationId)
    .setString("actionName", ctx.actionName)
    .setInt("deadline", ctx.deadline);
}

handle(main);

// The reactor's exports, wisp_alloc and wisp_invoke.
export * from "@wispfaas/wisp-as/reactor";
