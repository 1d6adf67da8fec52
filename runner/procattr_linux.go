package runner

import "syscall"

// sysProcAttr puts a run in its own process group, and has the kernel kill it
// (SIGKILL) if the agent dies without stopping it: a run must not outlive the
// heartbeat that keeps its claim.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
