// Package container runs one isolated Linux container per action loop,
// in-process through runc's libcontainer, and speaks the container
// protocol (docs/container-protocol.md) with it: one JSON line per call on
// stdin, one reply line on fd 3, stdout and stderr as logs closed by a
// sentinel line per call.
//
// # Lifecycle
//
// A Manager owns a libcontainer state directory and a parent cgroup.
// Manager.Start creates and starts a container whose action loop is
// running when it returns; Container.Init sends the init line once, then
// Container.Run sends one activation at a time. Pause and Resume freeze and
// thaw its cgroup; State re-reads the state from the kernel each time.
// Destroy kills, reaps and removes everything (cgroups, state, network).
// Manager.Close destroys what the Manager started; Manager.CleanupLeftovers
// removes what a crashed process left in the same state directory.
//
// After ErrTimeout, *ExitError, *ProtocolError or *InitError the container
// is not reusable: destroy it.
//
// # Isolation
//
// Every container gets new pid, mount, ipc, uts and network namespaces
// (and cgroup under cgroup v2); a read-only root; a tmpfs /tmp (mode 1777,
// Spec.TmpMB); /action bound read-only; runc's minimal /dev and masked and
// read-only /proc paths; a memory limit without swap, a pids limit; uid and
// gid 65534 with no capabilities at all and no_new_privs; RLIMIT_NOFILE
// 1024; hostname "wisp"; and a seccomp deny-list (EPERM) of the system
// calls an action has no use for: mount, namespaces (unshare, setns, clone
// with namespace flags), ptrace, modules, kexec, BPF, perf, keyrings,
// reboot and more (see deniedSyscalls); io_uring and clone3 answer ENOSYS,
// so that software falls back to what it would use on an older kernel.
// Without Spec.Network the
// network namespace holds only lo; with it, see network.go.
//
// # Building
//
// The binary needs cgo (libcontainer's nsenter is C) and, for the seccomp
// filter, the "seccomp" build tag and Debian's libseccomp-dev:
//
//	go build -tags seccomp ./cmd/wispd
//	go test -tags seccomp ./containerrt/...
//
// Without the tag NewManager fails with an error saying so: containers are
// never started without their seccomp filter. Tests must run as root.
//
// Every binary that starts containers calls MaybeInit first in main (and
// test packages in TestMain): libcontainer re-executes the binary as the
// container's init. With ManagerConfig.InitHelper, a C constructor that
// runs before libcontainer's own (initexec.go) executes the helper
// (cmd/wispd-init: this package's init alone) in its place, from a sealed
// copy the Manager passes as the descriptor just below libcontainer's
// init pipe; the helper's Go runtime starts sooner than a daemon's.
package container
