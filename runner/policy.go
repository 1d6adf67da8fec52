package runner

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// geteuid is the runner's effective user ID (a variable for tests).
var geteuid = os.Geteuid

// policy is what the client options let raw_exec do on this node.
type policy struct {
	// allowRoot lets runs execute as root (uid 0): with no task user when the
	// runner is root, or with task.user root.
	allowRoot bool
	// commands are the globs a command must match; nil: any command.
	commands []string
	// env are the globs of the agent's environment variables passed to runs; nil:
	// all of them.
	env []string
}

// parsePolicy reads the client options that restrict raw_exec.
func parsePolicy(o map[string]string) (policy, error) {
	p := policy{allowRoot: true}
	if v, ok := o[AllowRootOption]; ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return p, fmt.Errorf("client option %s: %q is not 1, 0, true or false", AllowRootOption, v)
		}
		p.allowRoot = b
	}
	var err error
	if p.commands, err = globs(o, CommandAllowlistOption, true); err != nil {
		return p, err
	}
	if p.env, err = globs(o, EnvAllowlistOption, false); err != nil {
		return p, err
	}
	return p, nil
}

// globs reads a comma-separated list of path.Match patterns; abs requires each to be
// an absolute path. An option that is set but lists nothing allows nothing.
func globs(o map[string]string, option string, abs bool) ([]string, error) {
	v, ok := o[option]
	if !ok {
		return nil, nil
	}
	out := []string{}
	for g := range strings.SplitSeq(v, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("client option %s: %q: %w", option, g, err)
		}
		if abs && !path.IsAbs(g) {
			return nil, fmt.Errorf("client option %s: %q is not an absolute path", option, g)
		}
		out = append(out, g)
	}
	return out, nil
}

// match reports whether s matches one of the globs; nil globs match everything.
func match(globs []string, s string) bool {
	if globs == nil {
		return true
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, s); ok {
			return true
		}
	}
	return false
}

// commandAllowed reports whether the allow-list lets command run.
func (p policy) commandAllowed(command string) bool { return match(p.commands, command) }

// environ is the part of the agent's environment that runs get.
func (p policy) environ() []string {
	env := os.Environ()
	if p.env == nil {
		return env
	}
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if match(p.env, name) {
			out = append(out, kv)
		}
	}
	return out
}

// checkCommand fails unless command is an absolute path to an executable regular
// file that no other user can change: neither it (nor the file a symlink leads to)
// nor a directory above it is writable by others, unless that directory is sticky
// (as /tmp: others cannot replace what they do not own). The check is made just
// before the command starts; the operator still owns what the command does.
func checkCommand(command string) error {
	if command == "" {
		return fmt.Errorf("%w: no command", ErrBadCommand)
	}
	if !filepath.IsAbs(command) {
		return fmt.Errorf("%w: command %q is not an absolute path", ErrBadCommand, command)
	}
	real, err := filepath.EvalSymlinks(command)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: command %s does not exist", ErrBadCommand, command)
	case err != nil:
		return fmt.Errorf("%w: command %s: %w", ErrBadCommand, command, err)
	}
	fi, err := os.Stat(real)
	switch {
	case err != nil:
		return fmt.Errorf("%w: command %s: %w", ErrBadCommand, command, err)
	case fi.IsDir():
		return fmt.Errorf("%w: command %s is a directory", ErrBadCommand, command)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%w: command %s is not a regular file", ErrBadCommand, command)
	case fi.Mode().Perm()&0o111 == 0:
		return fmt.Errorf("%w: command %s is not executable", ErrBadCommand, command)
	case fi.Mode().Perm()&0o002 != 0:
		return fmt.Errorf("%w: command %s is writable by others (mode %v): anyone on the host could change what runs",
			ErrBadCommand, real, fi.Mode().Perm())
	}
	for _, p := range []string{command, real} {
		for d := filepath.Dir(p); ; d = filepath.Dir(d) {
			di, err := os.Stat(d)
			if err != nil {
				return fmt.Errorf("%w: command %s: %w", ErrBadCommand, command, err)
			}
			if di.Mode().Perm()&0o002 != 0 && di.Mode()&os.ModeSticky == 0 {
				return fmt.Errorf("%w: command %s is in %s, which is writable by others (mode %v): anyone on the host could replace it",
					ErrBadCommand, command, d, di.Mode().Perm())
			}
			if d == filepath.Dir(d) {
				break
			}
		}
	}
	return nil
}

// runUser is the user a run executes as, when the runner switches to it.
type runUser struct {
	name     string
	home     string
	uid, gid uint32
	groups   []uint32
}

// credential is the process credential of u.
func (u *runUser) credential() *syscall.Credential {
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}
}

// runAs decides who a run of a task naming user (maybe "") executes as: nil for the
// runner's own user. A run never executes as root unless the policy allows it; a
// runner that is not root cannot switch to another user.
func (s *session) runAs(name string) (*runUser, error) {
	euid := geteuid()
	if name == "" {
		if euid == 0 && !s.policy.allowRoot {
			return nil, ErrRunAsRoot
		}
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		var unknown user.UnknownUserError
		if _, nerr := strconv.Atoi(name); nerr == nil || errors.As(err, &unknown) {
			if byID, ierr := user.LookupId(name); ierr == nil {
				u, err = byID, nil
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadUser, name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%w %q: uid %q, gid %q are not numbers", ErrBadUser, name, u.Uid, u.Gid)
	}
	if uid == 0 && !s.policy.allowRoot {
		return nil, fmt.Errorf("%w %q: runs as root are not allowed on this node (client option %s)", ErrBadUser, name, AllowRootOption)
	}
	if int(uid) == euid {
		return nil, nil // already that user
	}
	if euid != 0 {
		return nil, fmt.Errorf("%w %q: the agent runs as uid %d, and only root can run a program as another user", ErrBadUser, name, euid)
	}
	ru := &runUser{name: u.Username, home: u.HomeDir, uid: uint32(uid), gid: uint32(gid)}
	if ids, err := u.GroupIds(); err == nil {
		for _, g := range ids {
			if n, err := strconv.ParseUint(g, 10, 32); err == nil {
				ru.groups = append(ru.groups, uint32(n))
			}
		}
	}
	return ru, nil
}
