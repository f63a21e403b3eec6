package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The server's CPU time and memory, for --server-pid: Linux's /proc. CPU time is utime+stime
// of /proc/PID/stat, in clock ticks (getconf CLK_TCK, asked once; 100 when that fails, which is
// what Linux uses on every common architecture); peak memory is VmHWM of /proc/PID/status, the
// most resident memory the process has had since it started.

// procSample is one reading of a process.
type procSample struct {
	cpu     time.Duration // user and system time since the process started
	peakRSS uint64        // bytes
}

var clockTicks = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100
})

func readProc(pid int) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	cpu, err := parseStatCPU(stat, clockTicks())
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	return procSample{cpu: cpu, peakRSS: parseStatusKB(status, "VmHWM:")}, nil
}

// parseStatCPU reads utime and stime, fields 14 and 15 of /proc/PID/stat. The command name
// (field 2) is in parentheses and may hold spaces, so fields are counted from its closing one.
func parseStatCPU(stat []byte, ticks int64) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("no command name")
	}
	f := strings.Fields(string(stat[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, fmt.Errorf("%d fields", len(f)+2)
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime %q, stime %q", f[11], f[12])
	}
	return time.Duration(utime+stime) * time.Second / time.Duration(ticks), nil
}

// parseStatusKB reads a "Key:   1234 kB" line of /proc/PID/status, in bytes; 0 if absent.
func parseStatusKB(status []byte, key string) uint64 {
	for line := range strings.SplitSeq(string(status), "\n") {
		if rest, ok := strings.CutPrefix(line, key); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				n, _ := strconv.ParseUint(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}
