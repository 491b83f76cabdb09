// Package procinfo holds what the benchmark programs read about the processes they
// start: resident memory from /proc, and free loopback ports to start them on.
package procinfo

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// Memory returns a process's resident set and its peak (VmRSS, VmHWM), in
// bytes; zeros when the process is gone.
func Memory(pid int) (cur, peak int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 {
			v, _ := strconv.ParseInt(f[1], 10, 64)
			switch f[0] {
			case "VmRSS:":
				cur = v << 10
			case "VmHWM:":
				peak = v << 10
			}
		}
	}
	return cur, peak
}

// FreeAddr returns host:port with a port free on host at the time of the call.
func FreeAddr(host string) (string, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
