// Package core holds Wisp's domain: the entity types (Action, Exec, Limits,
// Activation, Namespace), their names and validation, and the error type whose
// codes the gateway maps to HTTP statuses. It does no I/O.
package core
