//go:build !linux

package main

import (
	"errors"
	"syscall"
	"time"
)

func childProcAttr() *syscall.SysProcAttr { return nil }

func processCPU(int) (time.Duration, error) {
	return 0, errors.New("process CPU time is only read on Linux")
}

func loadAverage() string { return "" }

func freshPageCost() time.Duration { return 0 }

func idleCPUs(string) string { return "" }
