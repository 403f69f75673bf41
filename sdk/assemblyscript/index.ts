// @wispfaas/wisp-as: see README.md and assembly/index.ts.
export * from "./assembly/index";
