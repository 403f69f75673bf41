package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/wispfaas/wisp/containerrt"
	"github.com/wispfaas/wisp/containerrt/container"
	"github.com/wispfaas/wisp/core"
	"github.com/wispfaas/wisp/daemon"
	"github.com/wispfaas/wisp/invoker"
)

// options are wispd's settings, from flags and their environment variables.
type options struct {
	listen     string
	data       string
	guestAuth  string
	natsURL    string
	natsListen string
	metrics    string
	retention  time.Duration
	capacity   int
	invokerID  string
	apiHost    string
	logLevel   string
	drain      time.Duration
	// Container actions.
	noContainers    bool
	rootfsOnDisk    bool
	runtimesDir     string
	containerMemory int
	stemCells       string
	pauseGrace      time.Duration
	containerIdle   time.Duration
	initHelper      string
	blobs           string
	blobCache       string
	recordsSize     string
	wasmCompiled    string
	wasmIdle        string
	wasmCache       string
	uploadTTL       time.Duration
	// envErrs are environment variables that could not be parsed; they
	// are reported when a command runs.
	envErrs []error
}

func defaultOptions() *options {
	host, _ := os.Hostname()
	if host == "" {
		host = "invoker0"
	}
	return &options{
		listen:      "127.0.0.1:3233",
		data:        "./wisp-data",
		retention:   7 * 24 * time.Hour,
		capacity:    invoker.DefaultCapacity,
		invokerID:   host,
		logLevel:    "info",
		drain:       30 * time.Second,
		uploadTTL:   15 * time.Minute,
		blobCache:   "1GiB",
		recordsSize: "1GiB",
		// wasmrt.DefaultCompiledMemory and DefaultIdleMemory, as --help shows them.
		wasmCompiled: "512MiB",
		wasmIdle:     "512MiB",
		wasmCache:    "2GiB",
		// Container defaults are containerrt's, shown in --help.
		containerMemory: containerrt.DefaultMemoryBudgetMB,
		pauseGrace:      containerrt.DefaultPauseGrace,
		containerIdle:   containerrt.DefaultIdleTimeout,
	}
}

// bind declares the persistent flags, each defaulting to its environment
// variable when that is set.
func (o *options) bind(cmd *cobra.Command) {
	f := cmd.PersistentFlags()
	str(f, &o.listen, "listen", "WISP_LISTEN", "address of the HTTP API")
	str(f, &o.data, "data", "WISP_DATA", "data directory: JetStream store, code blobs, compilation cache, guest key")
	str(f, &o.guestAuth, "guest-auth", "WISP_GUEST_AUTH", "UUID:KEY of the guest namespace (default: generated on first start and kept in the data directory)")
	str(f, &o.natsURL, "nats", "WISP_NATS", "URL of an external NATS cluster (default: embedded server, in-process)")
	str(f, &o.natsListen, "nats-listen", "WISP_NATS_LISTEN", "let other processes reach the embedded NATS on this address (default: no port)")
	str(f, &o.metrics, "metrics-listen", "WISP_METRICS_LISTEN", "also serve GET /metrics (Prometheus text: activation wait, init and duration histograms by kind, outcomes, the invoker's load, the container pool) on this address, e.g. 127.0.0.1:9233, as an invoker-only node must to be scraped; a node with the API and an invoker serves it on the API's port anyway (default: no other port)")
	o.dur(f, &o.retention, "activation-retention", "WISP_ACTIVATION_RETENTION", "how long activation records are kept")
	str(f, &o.recordsSize, "activation-store-size", "WISP_ACTIVATION_STORE_SIZE", "bound of the activation records' storage, like 512MiB or 4GiB; when full, the oldest records are removed first (each record also costs the store about 110 bytes of memory)")
	o.num(f, &o.capacity, "invoker-capacity", "WISP_INVOKER_CAPACITY", "activations one invoker runs at once; more wait in the queue")
	str(f, &o.wasmCompiled, "wasm-compiled-memory", "WISP_WASM_COMPILED_MEMORY", "bound of the memory of the compiled Wasm modules an invoker keeps (estimated at 4 times each module's size), like 512MiB or 2GiB; past it the least recently used are dropped, with their idle instances, and compiled again from the on-disk cache when next used")
	str(f, &o.wasmCache, "wasm-cache-size", "WISP_WASM_CACHE_SIZE", "bound of the on-disk cache of compiled Wasm modules (<data>/wasm-cache; a Go module takes ~19 MB there), like 2GiB or 10GiB; past it the least recently used are removed, and compiled again when next used")
	str(f, &o.wasmIdle, "wasm-idle-memory", "WISP_WASM_IDLE_MEMORY", "bound of the linear memory of the warm idle Wasm instances an invoker keeps, all actions together, like 512MiB or 2GiB; past it the least recently used are closed (the next activation of their action pays for a new instance)")
	str(f, &o.invokerID, "invoker-id", "WISP_INVOKER_ID", "stable name of this invoker")
	str(f, &o.apiHost, "api-host", "WISP_API_HOST", "URL actions are told to reach the API at (default: http://<listen>)")
	str(f, &o.logLevel, "log-level", "WISP_LOG_LEVEL", "debug, info, warn or error")
	str(f, &o.blobs, "blobs", "WISP_BLOBS", "where action code is stored: a directory, or s3://BUCKET/PREFIX?endpoint=HOST:PORT&secure=false&region=R with credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or ~/.aws/credentials (default: <data>/blobs)")
	str(f, &o.blobCache, "blob-cache-size", "WISP_BLOB_CACHE_SIZE", "bound of the invoker's disk cache of code (<data>/cache/blobs), like 512MiB or 2GiB")
	o.dur(f, &o.uploadTTL, "upload-ttl", "WISP_UPLOAD_TTL", "how long an upload URL for large code stays valid")
	o.dur(f, &o.drain, "shutdown-grace", "WISP_SHUTDOWN_GRACE", "on SIGINT/SIGTERM, how long running activations may finish before they are recorded as interrupted")
	o.boolean(f, &o.noContainers, "no-containers", "WISP_NO_CONTAINERS", "run wasm actions only: no containers for python:3, nodejs:20, native and blackbox")
	str(f, &o.runtimesDir, "runtimes", "WISP_RUNTIMES", "directory of the container runtimes that \"wispd runtimes build\" makes (default ~/.cache/wisp/runtimes)")
	o.num(f, &o.containerMemory, "container-memory", "WISP_CONTAINER_MEMORY", "megabytes of memory all containers together may be given; activations that do not fit wait in a queue")
	str(f, &o.stemCells, "stem-cells", "WISP_STEM_CELLS", "prewarmed containers kept ready per kind, as kind=count[,kind=count] (a kind may carry @MB for another memory size, e.g. python:3@512=1); \"none\" for none")
	o.dur(f, &o.pauseGrace, "pause-grace", "WISP_PAUSE_GRACE", "how long an idle warm container runs before it is paused (negative: never paused)")
	o.dur(f, &o.containerIdle, "container-idle-timeout", "WISP_CONTAINER_IDLE_TIMEOUT", "how long an idle paused container is kept before it is removed")
	o.boolean(f, &o.rootfsOnDisk, "runtimes-on-disk", "WISP_RUNTIMES_ON_DISK", "start containers from the runtimes' root filesystems on disk; by default nodejs:20's (105 MB) is copied at start to a tmpfs with 2 MB pages under <data>/containers, from which Node.js starts 10-20 ms sooner")
	str(f, &o.initHelper, "init-helper", "WISP_INIT_HELPER", "program every container's init runs: wispd-init, built from the same source as wispd (go tool task build puts it beside wispd), starts each container ~5 ms sooner than wispd itself (default: wispd-init beside wispd when it is there; \"none\": wispd itself)")
}

func envHelp(usage, env string) string { return fmt.Sprintf("%s [$%s]", usage, env) }

func str(f *pflag.FlagSet, p *string, name, env, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		*p = v
	}
	f.StringVar(p, name, *p, envHelp(usage, env))
}

func (o *options) num(f *pflag.FlagSet, p *int, name, env, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			o.envErrs = append(o.envErrs, fmt.Errorf("$%s=%q is not a whole number", env, v))
		}
		*p = n
	}
	f.IntVar(p, name, *p, envHelp(usage, env))
}

func (o *options) boolean(f *pflag.FlagSet, p *bool, name, env, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			o.envErrs = append(o.envErrs, fmt.Errorf("$%s=%q is not true or false", env, v))
		}
		*p = b
	}
	f.BoolVar(p, name, *p, envHelp(usage, env))
}

func (o *options) dur(f *pflag.FlagSet, p *time.Duration, name, env, usage string) {
	if v, ok := os.LookupEnv(env); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			o.envErrs = append(o.envErrs, fmt.Errorf("$%s=%q is not a duration like 30s or 168h", env, v))
		}
		*p = d
	}
	f.DurationVar(p, name, *p, envHelp(usage, env))
}

// check reports bad environment variables and out-of-range settings.
func (o *options) check() error {
	if len(o.envErrs) > 0 {
		return usageError{errors.Join(o.envErrs...)}
	}
	switch {
	case o.capacity < 1:
		return usageError{fmt.Errorf("--invoker-capacity must be at least 1, not %d", o.capacity)}
	case o.retention < time.Minute:
		return usageError{fmt.Errorf("--activation-retention must be at least 1m, not %s", o.retention)}
	case o.data == "":
		return usageError{errors.New("--data must name a directory")}
	case o.containerMemory < 0:
		return usageError{fmt.Errorf("--container-memory must be positive, not %d", o.containerMemory)}
	case o.containerIdle < 0 && o.pauseGrace < 0:
		return usageError{errors.New("--container-idle-timeout and --pause-grace cannot both be negative: idle containers would never be paused nor removed")}
	}
	if o.uploadTTL < time.Second {
		return usageError{fmt.Errorf("--upload-ttl must be at least 1s, not %s", o.uploadTTL)}
	}
	if _, err := parseBytes(o.blobCache); err != nil {
		return usageError{fmt.Errorf("--blob-cache-size: %w", err)}
	}
	for _, b := range []struct{ flag, value string }{
		{"--activation-store-size", o.recordsSize},
		{"--wasm-compiled-memory", o.wasmCompiled},
		{"--wasm-idle-memory", o.wasmIdle},
		{"--wasm-cache-size", o.wasmCache},
	} {
		if n, err := parseBytes(b.value); err != nil {
			return usageError{fmt.Errorf("%s: %w", b.flag, err)}
		} else if n < 1<<20 {
			return usageError{fmt.Errorf("%s must be at least 1MiB, not %s", b.flag, b.value)}
		}
	}
	if o.guestAuth != "" {
		if _, _, err := core.ParseAuth(strings.TrimSpace(o.guestAuth)); err != nil {
			return usageError{fmt.Errorf("--guest-auth: %w", err)}
		}
	}
	return nil
}

// config is the daemon configuration for role r.
func (o *options) config(r daemon.Role) (daemon.Config, error) {
	log, err := o.logger()
	if err != nil {
		return daemon.Config{}, err
	}
	cacheBytes, _ := parseBytes(o.blobCache) // checked by check
	recordsBytes, _ := parseBytes(o.recordsSize)
	wasmCompiled, _ := parseBytes(o.wasmCompiled)
	wasmIdle, _ := parseBytes(o.wasmIdle)
	wasmCache, _ := parseBytes(o.wasmCache)
	stems, err := parseStemCells(o.stemCells)
	if err != nil {
		return daemon.Config{}, usageError{err}
	}
	containers := daemon.ContainerConfig{
		Disabled:       o.noContainers,
		RootfsOnDisk:   o.rootfsOnDisk,
		InitHelper:     o.initHelperPath(log),
		RuntimesDir:    o.runtimesDir,
		MemoryBudgetMB: o.containerMemory,
		Stems:          stems,
		PauseGrace:     o.pauseGrace,
		IdleTimeout:    o.containerIdle,
	}
	return daemon.Config{
		Role:                r,
		Blobs:               o.blobs,
		UploadTTL:           o.uploadTTL,
		BlobCacheBytes:      cacheBytes,
		WasmCompiledBytes:   wasmCompiled,
		WasmIdleBytes:       wasmIdle,
		WasmCacheBytes:      wasmCache,
		Data:                o.data,
		Listen:              o.listen,
		GuestAuth:           o.guestAuth,
		NATSURL:             o.natsURL,
		NATSListen:          o.natsListen,
		MetricsListen:       o.metrics,
		ActivationRetention: o.retention,
		ActivationBytes:     recordsBytes,
		InvokerCapacity:     o.capacity,
		InvokerID:           o.invokerID,
		APIHost:             o.apiHost,
		ShutdownGrace:       o.drain,
		Containers:          containers,
		Logger:              log,
	}, nil
}

// parseStemCells reads --stem-cells: "kind=count[,kind=count]" or "none";
// "" keeps the default.
func parseStemCells(s string) (map[string]int, error) {
	s = strings.TrimSpace(s)
	switch s {
	case "":
		return nil, nil
	case "none":
		return map[string]int{}, nil
	}
	out := map[string]int{}
	for _, part := range strings.Split(s, ",") {
		kind, count, ok := strings.Cut(strings.TrimSpace(part), "=")
		n, err := strconv.Atoi(count)
		if !ok || kind == "" || err != nil || n < 0 {
			return nil, fmt.Errorf("--stem-cells: %q is not kind=count (for example python:3=2,nodejs:20=1)", part)
		}
		out[kind] = n
	}
	return out, nil
}

func (o *options) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToLower(o.logLevel))); err != nil {
		return nil, usageError{fmt.Errorf("--log-level %q: use debug, info, warn or error", o.logLevel)}
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})), nil
}

// initHelperName is the file name of the container init helper that
// "go tool task build" puts beside wispd.
const initHelperName = "wispd-init"

// initHelperPath resolves --init-helper for this executable (see
// resolveInitHelper); "" with --no-containers. A wispd-init found beside
// wispd that cannot serve (built from other sources, say) is skipped with
// a warning, so that a stale file does not take the containers away; one
// named by the flag is used as given, and a bad one makes the container
// runtime fail, saying why.
func (o *options) initHelperPath(log *slog.Logger) string {
	if o.noContainers {
		return ""
	}
	exe, err := os.Executable()
	if err != nil {
		exe = ""
	} else if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	p := resolveInitHelper(o.initHelper, exe)
	if p != "" && o.initHelper == "" {
		if err := container.CheckInitHelper(p); err != nil {
			log.Warn("not using the wispd-init beside wispd; containers' init is wispd itself (rebuild both with go tool task build)", "err", err)
			return ""
		}
	}
	return p
}

// resolveInitHelper resolves an --init-helper value: "none" is wispd
// itself (""); "" is wispd-init beside exe when that is a regular file,
// else wispd itself; anything else is taken as given (NewManager checks
// it and says what is wrong).
func resolveInitHelper(flag, exe string) string {
	switch flag {
	case "none":
		return ""
	case "":
		if exe == "" {
			return ""
		}
		p := filepath.Join(filepath.Dir(exe), initHelperName)
		if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
			return ""
		}
		return p
	}
	return flag
}
