package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// childProcAttr makes the kernel send SIGTERM to a child when the benchmark
// dies without cleaning up (SIGKILL, a crash), so no server is left behind.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// processCPU is the CPU time (user + system) process pid has used so far,
// from /proc/PID/stat (in clock ticks, 100 per second on Linux).
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// the fields after its closing parenthesis are plain.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	const ticksPerSecond = 100 // USER_HZ, fixed at 100 on every Linux ABI
	return time.Duration(utime+stime) * time.Second / ticksPerSecond, nil
}

// loadAverage is the 1-minute load average, a hint of how much else runs
// on the machine; "" when unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// idleCPUs says how this machine's idle CPUs wait for work, from sysfs
// under sys ("/sys"): the cpuidle driver and governor and, in a KVM guest
// with the haltpoll driver, how long an idle virtual CPU polls before it
// halts (guest_halt_poll_ns). "" when sysfs says nothing. It is printed
// because it moves the one-client rows, the floor's most: a halted
// virtual CPU takes tens of microseconds to wake, and with one client the
// server's CPUs are idle whenever the request is elsewhere. What turning
// halt polling on did to the rows: bench/README.md and docs/rationale.md
// ("What one client's round trip is made of").
func idleCPUs(sys string) string {
	read := func(path string) string {
		b, err := os.ReadFile(sys + path)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	var parts []string
	if d := read("/devices/system/cpu/cpuidle/current_driver"); d != "" {
		parts = append(parts, "cpuidle driver "+d)
	}
	g := read("/devices/system/cpu/cpuidle/current_governor_ro")
	if g == "" {
		g = read("/devices/system/cpu/cpuidle/current_governor")
	}
	if g != "" {
		parts = append(parts, "governor "+g)
	}
	if ns, err := strconv.ParseInt(read("/module/haltpoll/parameters/guest_halt_poll_ns"), 10, 64); err == nil {
		if ns == 0 {
			parts = append(parts, "no halt polling (guest_halt_poll_ns 0: an idle virtual CPU halts at once)")
		} else {
			parts = append(parts, fmt.Sprintf("halt polling up to %s (guest_halt_poll_ns)", time.Duration(ns)))
		}
	}
	return strings.Join(parts, ", ")
}

// freshPageCost is what the first touch of one 4 KiB page of fresh
// anonymous memory costs here (the page fault, the kernel zeroing the page,
// and on a virtual machine whatever its hypervisor adds), the median of
// three runs over 16 MiB; 0 if it cannot be measured. Every page a new
// process, Wasm instance or buffer touches pays it, so it explains much of
// a cold start: on the 2-core VM Wisp is measured on it was about 14 µs,
// where bare metal pays about 1 µs or less.
func freshPageCost() time.Duration {
	const size, page = 16 << 20, 4096
	var runs []time.Duration
	for range 3 {
		b, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
		if err != nil {
			return 0
		}
		start := time.Now()
		for i := 0; i < size; i += page {
			b[i] = 1
		}
		runs = append(runs, time.Since(start)/(size/page))
		_ = syscall.Munmap(b)
	}
	slices.Sort(runs)
	return runs[1]
}
