// Package containerrt runs the container kinds (python:3, nodejs:20,
// native, blackbox) for the invoker: a pool of libcontainer containers
// (package container) that speak the action-loop protocol of
// docs/container-protocol.md, built in the spirit of OpenWhisk's
// ContainerPool.
//
// # The pool's rules
//
//   - Each container has an explicit lifecycle (Status): starting → stem
//     cell → initialising → ready ⇄ running, ready → paused → running, and
//     removed from any of them. Transitions are checked in one place; the
//     kernel's view (running, paused, stopped) is re-read with
//     container.State before a container is paused, resumed or reused, so
//     a container that died while paused is removed, never resumed.
//   - Stem cells: Config.Stems containers per kind and memory size are
//     kept started, their action loop waiting for init. An activation of
//     that kind and memory (without network access, which is fixed when a
//     container is created) takes one and pays only for placing its code
//     and init; the refiller starts a replacement in the background once
//     that activation is over, one at a time, only while nobody waits and
//     the budget has room.
//   - Specialisation: once initialised a container serves one Owner (an
//     action at one version and update time) and nothing else, one
//     activation at a time.
//   - Warm reuse: an activation takes its owner's most recently used idle
//     container. Idle containers are paused after PauseGrace and resumed
//     by the next activation; paused ones are removed after IdleTimeout.
//   - Memory: every container's memory limit counts against
//     MemoryBudgetMB. A new container that does not fit evicts idle
//     containers, least recently used first, then stem cells; if that is
//     not enough the activation waits in a FIFO queue. Activations whose
//     owner has an idle container, or that can take a stem cell, need no
//     memory and do not wait behind others.
//   - Failures: a container that timed out, was OOM-killed, exited or
//     broke the protocol is removed (and stem cells refilled); the result
//     says what happened in OpenWhisk's words and counts as the action's
//     fault. An init error removes the container. A result that is not a
//     JSON object is a developer error; that container stays usable.
//   - Close removes every container; New removes whatever a crashed
//     process left in StateDir.
package containerrt
