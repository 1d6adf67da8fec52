//go:build unix && !linux

package runner

import "syscall"

// sysProcAttr puts a run in its own process group.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
