package core

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Activation status codes, as in OpenWhisk's response.statusCode.
const (
	StatusSuccess          = 0
	StatusApplicationError = 1
	StatusDeveloperError   = 2
	StatusInternalError    = 3
)

// statusNames are OpenWhisk's response.status strings by status code.
var statusNames = [...]string{"success", "application error", "action developer error", "whisk internal error"}

// Response is the outcome part of an activation record.
type Response struct {
	Status     string          `json:"status"`
	StatusCode int             `json:"statusCode"`
	Success    bool            `json:"success"`
	Result     json.RawMessage `json:"result,omitempty"`
}

// NewResponse builds a Response for a status code and result.
func NewResponse(statusCode int, result json.RawMessage) Response {
	return Response{Status: statusNames[statusCode], StatusCode: statusCode, Success: statusCode == StatusSuccess, Result: result}
}

// ErrorResult is the result object {"error": msg}.
func ErrorResult(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}

// Activation is the record of one run of an action, with OpenWhisk's fields.
type Activation struct {
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	Version      string    `json:"version"`
	Subject      string    `json:"subject"`
	ActivationID string    `json:"activationId"`
	Start        int64     `json:"start"` // Unix milliseconds
	End          int64     `json:"end"`
	Duration     int64     `json:"duration"` // milliseconds
	StatusCode   int       `json:"statusCode"`
	Response     Response  `json:"response"`
	Logs         []string  `json:"logs"`
	Annotations  KeyValues `json:"annotations"`
	Publish      bool      `json:"publish"`
}

// ActivationSummary is an activation as listed without docs=true:
// no result, no logs.
type ActivationSummary struct {
	Namespace    string    `json:"namespace"`
	Name         string    `json:"name"`
	Version      string    `json:"version"`
	Subject      string    `json:"subject"`
	ActivationID string    `json:"activationId"`
	Start        int64     `json:"start"`
	End          int64     `json:"end"`
	Duration     int64     `json:"duration"`
	StatusCode   int       `json:"statusCode"`
	Annotations  KeyValues `json:"annotations"`
	Publish      bool      `json:"publish"`
}

// Summary drops the result and logs.
func (a *Activation) Summary() ActivationSummary {
	return ActivationSummary{
		Namespace: a.Namespace, Name: a.Name, Version: a.Version, Subject: a.Subject,
		ActivationID: a.ActivationID, Start: a.Start, End: a.End, Duration: a.Duration,
		StatusCode: a.StatusCode, Annotations: a.Annotations, Publish: a.Publish,
	}
}

// Invocation is the message the gateway sends an invoker for one
// activation. It carries everything the invoker needs, so that the invoker
// does not look the action up again and runs exactly the version resolved.
type Invocation struct {
	ActivationID string `json:"activationId"`
	// Namespace is the caller's namespace: the record is stored there.
	Namespace string `json:"namespace"`
	Subject   string `json:"subject"`
	// Action is the action as resolved: only what running it needs.
	Action InvokedAction `json:"action"`
	// Params are the default parameters merged under the invoke's, as one
	// JSON object.
	Params json.RawMessage `json:"params"`
	// ReplyTo is the core NATS subject the result is published on, or ""
	// when nobody waits.
	ReplyTo string `json:"replyTo,omitempty"`
	// Queued is when the gateway published the message (Unix nanoseconds);
	// the invoker derives waitTime from it.
	Queued int64 `json:"queued"`
}

// InvokedAction is what an invoker needs of the action it runs: its name
// at its version, its code and its limits. Annotations and default
// parameters stay behind (the parameters are merged into the invocation's).
type InvokedAction struct {
	Namespace string `json:"namespace"` // "ns" or "ns/pkg", as Action.Namespace
	Name      string `json:"name"`
	Version   string `json:"version"`
	Kind      string `json:"kind"`
	Digest    string `json:"digest"`
	Limits    Limits `json:"limits"`
	// Updated is the action's update time (Unix ms): with Version, it
	// tells apart an action deleted and created again at version 0.0.1.
	Updated int64 `json:"updated"`
	// Main is exec.main: the function a container runtime calls.
	Main string `json:"main,omitempty"`
	// Binary is exec.binary: for python:3 and nodejs:20, the code is a zip.
	Binary bool `json:"binary,omitempty"`
	// Network is true when the action's "network" annotation grants it
	// network access (containers have none by default).
	Network bool `json:"network,omitempty"`
}

// Invoked returns what an invoker needs of a.
func (a *Action) Invoked() InvokedAction {
	return InvokedAction{
		Namespace: a.Namespace, Name: a.Name, Version: a.Version, Kind: a.Exec.Kind, Digest: a.Exec.Digest,
		Limits: a.Limits, Updated: a.Updated, Main: a.Exec.Main, Binary: a.Exec.Binary, Network: a.NetworkGranted(),
	}
}

// NetworkGranted reports whether the annotation "network" is true: the
// action's containers then get network access (see
// docs/container-protocol.md).
func (a *Action) NetworkGranted() bool {
	v, ok := a.Annotations.Get("network")
	return ok && string(bytes.TrimSpace(v)) == "true"
}

// Path returns the action's entity path.
func (a *InvokedAction) Path() EntityPath {
	ns, pkg, _ := strings.Cut(a.Namespace, "/")
	return EntityPath{Namespace: ns, Package: pkg, Name: a.Name}
}
