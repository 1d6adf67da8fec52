package nomadjob

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrRefused is matched, with errors.Is, by every *Error: the Nomad job file
// holds something jetcron cannot run as written.
var ErrRefused = errors.New("nomad job not importable")

// Problem is one thing in a Nomad job file that has no jetcron meaning, or
// that jetcron refuses.
type Problem struct {
	File  string // the file name given to Convert
	Line  int    // 1-based line in the file; 0 if unknown
	Where string // the block it is in, such as `task "redis"` or `periodic`; empty at the top of the file
	Name  string // the attribute or block at fault, such as "driver" or "network"; empty for a syntax error
	Msg   string // what is wrong and why, naming Name first
}

// Error returns the problem as "FILE:LINE: where: message".
func (p Problem) Error() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Where != "" {
		b.WriteString(p.Where + ": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// Error lists every problem found in one Nomad job file, in line order.
type Error struct {
	Problems []Problem // at least one
}

// Error returns one line per problem.
func (e *Error) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns ErrRefused.
func (e *Error) Unwrap() error { return ErrRefused }

// newError returns the problems as an *Error in line order, or nil if there
// are none.
func newError(problems []Problem) error {
	if len(problems) == 0 {
		return nil
	}
	ps := slices.Clone(problems)
	slices.SortStableFunc(ps, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return &Error{Problems: ps}
}
