package container

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/opencontainers/cgroups"
	"github.com/opencontainers/runc/libcontainer/configs"
	"github.com/opencontainers/runc/libcontainer/specconv"
	"github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Defaults applied by Manager.Start to zero fields of a Spec.
const (
	DefaultMemoryMB  = 256
	DefaultPidsLimit = 64
	DefaultTmpMB     = 16
	// nofile is the open-files limit inside every container: enough for a
	// runtime and its modules, small enough that a leak fails fast.
	nofile = 1024
	// uid and gid of the action loop inside the container ("nobody").
	unprivilegedID = 65534
)

// deniedSyscalls are refused with EPERM inside every container. The profile
// is a deny-list (everything else is allowed) so that any interpreter works;
// it removes the kernel surface an unprivileged process has no business
// with: mounting and namespaces, module and kexec loading, tracing other
// processes, BPF and perf, the kernel keyring, swap, reboot, clock setting,
// and handle-based opens that bypass path permissions.
var deniedSyscalls = []string{
	"acct", "add_key", "bpf", "chroot", "clock_adjtime", "clock_settime", "create_module",
	"delete_module", "fanotify_init", "finit_module", "fsconfig", "fsmount", "fsopen", "fspick",
	"get_kernel_syms", "init_module", "ioperm", "iopl", "kcmp", "kexec_file_load", "kexec_load",
	"keyctl", "lookup_dcookie", "mount", "mount_setattr", "move_mount", "name_to_handle_at",
	"nfsservctl", "open_by_handle_at", "open_tree", "perf_event_open", "pidfd_getfd", "pivot_root",
	"process_vm_readv", "process_vm_writev", "ptrace", "query_module", "quotactl", "quotactl_fd",
	"reboot", "request_key", "setdomainname", "sethostname", "setns", "settimeofday", "stime",
	"swapoff", "swapon", "_sysctl", "syslog", "umount", "umount2", "unshare", "uselib",
	"userfaultfd", "ustat", "vhangup", "vm86", "vm86old",
}

// unsupportedSyscalls answer ENOSYS rather than EPERM: software probes
// them and falls back when the kernel "lacks" them (libuv, which Node.js
// uses, for io_uring; libcs for clone3, whose flags live in memory that
// seccomp cannot read, so clone's checked flags stay the only way).
var unsupportedSyscalls = []string{"clone3", "io_uring_enter", "io_uring_register", "io_uring_setup"}

// newNamespaceFlags are the clone flags that create namespaces; clone with
// any of them is refused (unshare and setns already are), so that the
// unprivileged action cannot make itself a user namespace with capabilities.
var newNamespaceFlags = []uint64{
	unix.CLONE_NEWNS, unix.CLONE_NEWUTS, unix.CLONE_NEWIPC, unix.CLONE_NEWUSER,
	unix.CLONE_NEWPID, unix.CLONE_NEWNET, unix.CLONE_NEWCGROUP, unix.CLONE_NEWTIME,
}

// seccompProfile is the OCI form of the deny-list.
func seccompProfile() *specs.LinuxSeccomp {
	eperm := uint(unix.EPERM)
	enosys := uint(unix.ENOSYS)
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: seccompArchitectures(),
		Syscalls: []specs.LinuxSyscall{
			{Names: deniedSyscalls, Action: specs.ActErrno, ErrnoRet: &eperm},
			{Names: unsupportedSyscalls, Action: specs.ActErrno, ErrnoRet: &enosys},
		},
	}
	for _, f := range newNamespaceFlags {
		p.Syscalls = append(p.Syscalls, specs.LinuxSyscall{
			Names: []string{"clone"}, Action: specs.ActErrno, ErrnoRet: &eperm,
			// Masked equality: (flags & f) == f. Separate entries because
			// the arguments of one entry are and-ed.
			Args: []specs.LinuxSeccompArg{{Index: cloneFlagsArg(), Value: f, ValueTwo: f, Op: specs.OpMaskedEqual}},
		})
	}
	return p
}

// cloneFlagsArg is the index of clone's flags argument (the first on every
// architecture except s390x, where it is the second).
func cloneFlagsArg() uint {
	if runtime.GOARCH == "s390x" {
		return 1
	}
	return 0
}

// seccompArchitectures lists the native ABI and the compatibility ABIs the
// kernel accepts from a native process, so that a 32-bit system call (int
// 0x80 on amd64) cannot slip past a rule written for the 64-bit number.
func seccompArchitectures() []specs.Arch {
	switch runtime.GOARCH {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	default:
		return nil // the native architecture only
	}
}

// ociSpec describes one container as an OCI runtime spec; specconv turns it
// into libcontainer's configuration (devices, masked paths and mounts the
// way runc does them).
func ociSpec(s *Spec, cgroupPath string, host hostCgroups) *specs.Spec {
	mem := int64(s.MemoryMB) << 20
	pids := int64(s.PidsLimit)
	oomScore := 1000 // if the host runs out of memory, the actions go first
	res := &specs.LinuxResources{
		Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
		Memory:  &specs.LinuxMemory{Limit: &mem},
		Pids:    &specs.LinuxPids{Limit: &pids},
	}
	if host.memsw {
		res.Memory.Swap = &mem // memory+swap = memory: no swap
	}
	tmp := "size=" + strconv.Itoa(s.TmpMB) + "m"
	sp := &specs.Spec{
		Version:  specs.Version,
		Root:     &specs.Root{Path: s.Rootfs, Readonly: true},
		Hostname: "wisp",
		Process: &specs.Process{
			User:            specs.User{UID: unprivilegedID, GID: unprivilegedID},
			Args:            s.Args,
			Env:             s.Env,
			Cwd:             s.Cwd,
			NoNewPrivileges: true,
			OOMScoreAdj:     &oomScore,
			// Every set empty: no capabilities at all, bounding included.
			Capabilities: &specs.LinuxCapabilities{},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=64k"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", tmp}},
			// sysfs, read-only (libc counts CPUs there).
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777", tmp}},
		},
		Linux: &specs.Linux{
			CgroupsPath: cgroupPath,
			Resources:   res,
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			// As runc's default spec.
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
				"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
				"/proc/scsi", "/sys/devices/virtual/powercap",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"},
			Seccomp:       seccompProfile(),
		},
	}
	if s.ActionDir != "" {
		sp.Mounts = append(sp.Mounts, specs.Mount{
			Destination: "/action", Type: "bind", Source: s.ActionDir,
			Options: []string{"rbind", "ro", "nosuid", "nodev"},
		})
	}
	if s.Cgroups {
		sp.Mounts = append(sp.Mounts, cgroupMounts(cgroupPath, host)...)
	}
	if cgroups.IsCgroup2UnifiedMode() {
		sp.Linux.Namespaces = append(sp.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	return sp
}

// cgroupMounts show a container its own cgroups, read-only, for runtimes
// that read their limits there (Node.js sizes its heap from the memory
// limit). Under cgroup v2 that is one cgroup2 mount in the container's
// cgroup namespace. Under v1 a "cgroup" mount is a tmpfs and a bind mount
// per controller, 5–8 ms of a container's start; what runtimes read is
// the memory controller, so it is a small read-only tmpfs and one bind of
// the container's memory cgroup at /sys/fs/cgroup/memory, where libuv
// (Node.js) looks when the path of /proc/self/cgroup is not under it
// (e2e's TestContainerHelloWorlds checks that a 128 MB Node.js action
// sizes its heap from it). The cgroup exists
// by then: libcontainer applies it before the init sets up its mounts.
func cgroupMounts(cgroupPath string, host hostCgroups) []specs.Mount {
	if host.v1Memory == "" {
		return []specs.Mount{{Destination: "/sys/fs/cgroup", Type: "cgroup", Source: "cgroup", Options: []string{"nosuid", "noexec", "nodev", "relatime", "ro"}}}
	}
	return []specs.Mount{
		{Destination: "/sys/fs/cgroup", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "noexec", "nodev", "mode=755", "size=4k", "ro"}},
		{Destination: "/sys/fs/cgroup/memory", Type: "bind", Source: filepath.Join(host.v1Memory, cgroupPath), Options: []string{"bind", "nosuid", "noexec", "nodev", "ro"}},
	}
}

// hostCgroups is what container configurations need of the host's
// cgroups, found once per Manager.
type hostCgroups struct {
	// memsw: memory+swap can be limited (swapAccounting).
	memsw bool
	// v1Memory is the v1 memory controller's mount point; "" under v2.
	v1Memory string
}

// findHostCgroups reads the host's cgroup facts.
func findHostCgroups() hostCgroups {
	h := hostCgroups{memsw: swapAccounting()}
	if !cgroups.IsCgroup2UnifiedMode() {
		// Without a memory controller there is no limit to show either;
		// the full "cgroup" mount then shows what there is.
		h.v1Memory, _ = cgroups.FindCgroupMountpoint("", "memory")
	}
	return h
}

// libcontainerConfig builds the configuration libcontainer.Create takes.
func libcontainerConfig(s *Spec, cgroupPath string, host hostCgroups) (*configs.Config, error) {
	cfg, err := specconv.CreateLibcontainerConfig(&specconv.CreateOpts{
		CgroupName: s.ID,
		Spec:       ociSpec(s, cgroupPath, host),
		// Without a new session keyring the action would share the
		// daemon's; it cannot use keyctl anyway, but joins nothing.
		NoNewKeyring: false,
	})
	if err != nil {
		return nil, fmt.Errorf("container config: %w", err)
	}
	cfg.Rlimits = []configs.Rlimit{
		{Type: unix.RLIMIT_NOFILE, Hard: nofile, Soft: nofile},
		{Type: unix.RLIMIT_CORE, Hard: 0, Soft: 0},
	}
	return cfg, nil
}

// swapAccounting tells whether memory+swap can be limited: always under
// cgroup v2 (libcontainer writes memory.swap.max, ignoring its absence);
// under v1 only when the kernel accounts swap (memory.memsw.* exists).
func swapAccounting() bool {
	if cgroups.IsCgroup2UnifiedMode() {
		return true
	}
	mnt, err := cgroups.FindCgroupMountpoint("", "memory")
	if err != nil {
		return false
	}
	_, err = os.Stat(filepath.Join(mnt, "memory.memsw.limit_in_bytes"))
	return err == nil
}
