// The reactor exports (wisp_alloc, wisp_invoke): re-export them from the
// action's entry file with
//   export * from "@wispfaas/wisp-as/reactor";
export { wisp_alloc, wisp_invoke } from "./assembly/reactor";
