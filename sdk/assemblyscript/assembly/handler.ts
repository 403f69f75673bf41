import { JSONObject } from "./json";
import { Context } from "./context";
import { writeLine } from "./wasi";

/** Handler is an action's function: parameters in, result out. */
export type Handler = (params: JSONObject) => JSONObject;

let handler: Handler | null = null;
let current: Context = new Context();

/**
 * handle registers fn as the action's handler; call it once, at the top
 * level of the action's entry file. A later call replaces the handler.
 */
export function handle(fn: Handler): void {
  handler = fn;
}

/**
 * context is the context of the activation being served. Outside of one
 * (at the top level, while the module is initialised) every field is empty.
 */
export function context(): Context {
  return current;
}

/**
 * log writes message to stderr as one log line of the activation (a
 * message with newlines makes several lines).
 */
export function log(message: string): void {
  writeLine(2, message);
}

// The reactor's side of the above.
export function _handler(): Handler | null {
  return handler;
}

export function _setContext(c: Context): void {
  current = c;
}
