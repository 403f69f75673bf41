// The exports of Wisp's reactor form (docs/wasm-abi.md): wisp_alloc and
// wisp_invoke. An action's entry file re-exports them:
//
//   export * from "@wispfaas/wisp-as/reactor";

import { JSONObject, JSONWriter, parseJSONBytes, jsonError, _shrinkScratch } from "./json";
import { Context, contextFromBytes } from "./context";
import { _handler, _setContext } from "./handler";

// The largest buffer wisp_alloc hands out; more is refused with 0.
const MAX_ALLOC: i32 = 1 << 30;

// Buffers wisp_alloc handed out that wisp_invoke has not freed yet. They
// come from heap.alloc: unmanaged memory the garbage collector never
// touches, so they stay valid whatever the allocations in between.
const pending = new Array<usize>();

// The context of the last activation, whose strings the next one reuses
// where they are the same (contextFromBytes).
let last = new Context();

// The result of the last activation. The writer's buffer stays reachable
// from this global, so the result stays valid until the next wisp_invoke
// writes over it.
const out = new JSONWriter(1024);

/** wisp_alloc returns len writable bytes for the host, or 0 if it cannot. */
export function wisp_alloc(len: i32): usize {
  if (len < 0 || len > MAX_ALLOC) return 0;
  const p = heap.alloc(<usize>max(len, 1));
  pending.push(p);
  return p;
}

/**
 * wisp_invoke runs one activation: it reads the parameters and context
 * (both JSON objects), calls the handler and returns (ptr << 32) | len of
 * the result, a JSON object.
 */
export function wisp_invoke(params: usize, paramsLen: i32, ctx: usize, ctxLen: i32): u64 {
  out.reset();
  const fast = contextFromBytes(ctx, ctxLen, last);
  let c: Context;
  if (fast !== null) {
    c = fast;
  } else {
    const cv = parseJSONBytes(ctx, ctxLen);
    const co: JSONObject | null = cv === null ? null : cv.asObject();
    c = co === null ? new Context() : Context.fromJSON(co);
  }
  last = c;
  const pv = parseJSONBytes(params, paramsLen);
  let perr = "";
  if (pv === null) perr = jsonError();
  // The parsed values hold copies: the host's buffers can go.
  for (let i = 0, n = pending.length; i < n; ++i) heap.free(unchecked(pending[i]));
  pending.length = 0;
  _shrinkScratch();

  let result: JSONObject;
  const po: JSONObject | null = pv === null ? null : pv.asObject();
  const h = _handler();
  if (po === null) {
    result = JSONObject.error("wisp-as: the parameters are not a JSON object" + (perr.length > 0 ? ": " + perr : ""));
  } else if (h === null) {
    result = JSONObject.error("wisp-as: no handler: call handle(main) at the top level of the action");
  } else {
    _setContext(c);
    result = h(po);
    _setContext(new Context());
  }
  out.object(result);
  return (<u64>out.ptr << 32) | <u64>out.len;
}
