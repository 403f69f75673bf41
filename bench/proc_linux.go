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
