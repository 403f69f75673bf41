// The Wisp SDK for AssemblyScript: write an action as a function from
// parameters to a result, and build it as a Wisp reactor (docs/wasm-abi.md).

export {
  JSONKind,
  JSONValue,
  JSONObject,
  JSONArray,
  parseJSON,
  jsonError,
  MAX_DEPTH,
} from "./json";
// Params and Result are JSON objects: Params for reading, Result for building.
export { JSONObject as Params, JSONObject as Result } from "./json";
export { Context, nowMs } from "./context";
export { Handler, handle, context, log } from "./handler";
