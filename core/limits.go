package core

// Limits bound one activation of an action, in OpenWhisk's units.
type Limits struct {
	Timeout     int `json:"timeout"`     // milliseconds
	Memory      int `json:"memory"`      // megabytes
	Logs        int `json:"logs"`        // megabytes of log output kept
	Concurrency int `json:"concurrency"` // activations one sandbox may serve at once
}

// LimitsPut carries the limits given on create or update; nil keeps the
// current (or default) value.
type LimitsPut struct {
	Timeout     *int `json:"timeout,omitempty"`
	Memory      *int `json:"memory,omitempty"`
	Logs        *int `json:"logs,omitempty"`
	Concurrency *int `json:"concurrency,omitempty"`
}

// The ranges of each limit and their defaults. The timeout and log ranges
// are OpenWhisk's; memory goes lower than OpenWhisk's 128 MB because a Wasm
// action often needs only a few megabytes.
const (
	DefaultTimeoutMs = 60_000
	MinTimeoutMs     = 100
	MaxTimeoutMs     = 300_000
	DefaultMemoryMB  = 256
	MinMemoryMB      = 16
	MaxMemoryMB      = 2048
	DefaultLogsMB    = 10
	MinLogsMB        = 0
	MaxLogsMB        = 10
	MaxConcurrency   = 1
	// MaxPayloadBytes bounds the parameters of one invocation and the
	// result of one activation (1 MB, as OpenWhisk).
	MaxPayloadBytes = 1 << 20
	// MaxActionCodeBytes bounds the decoded code of an action posted inline.
	MaxActionCodeBytes = 48 << 20
)

// DefaultLimits returns the limits an action gets when none are given.
func DefaultLimits() Limits {
	return Limits{Timeout: DefaultTimeoutMs, Memory: DefaultMemoryMB, Logs: DefaultLogsMB, Concurrency: 1}
}

// Apply returns base with the given limits replaced, checking each range.
func (p *LimitsPut) Apply(base Limits) (Limits, error) {
	if p == nil {
		return base, nil
	}
	check := func(name string, v *int, lo, hi int, unit string, dst *int) error {
		if v == nil {
			return nil
		}
		if *v < lo || *v > hi {
			return Errorf(CodeInvalid, "The %s limit %d %s is out of range: it must be between %d and %d %s.", name, *v, unit, lo, hi, unit)
		}
		*dst = *v
		return nil
	}
	out := base
	if err := check("timeout", p.Timeout, MinTimeoutMs, MaxTimeoutMs, "ms", &out.Timeout); err != nil {
		return base, err
	}
	if err := check("memory", p.Memory, MinMemoryMB, MaxMemoryMB, "MB", &out.Memory); err != nil {
		return base, err
	}
	if err := check("logs", p.Logs, MinLogsMB, MaxLogsMB, "MB", &out.Logs); err != nil {
		return base, err
	}
	if err := check("concurrency", p.Concurrency, 1, MaxConcurrency, "", &out.Concurrency); err != nil {
		return base, err
	}
	return out, nil
}
