package job

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// ErrInvalid is matched, with errors.Is, by every *ValidationError.
var ErrInvalid = errors.New("invalid job")

// ValidationError lists every problem found in one job file.
type ValidationError struct {
	Job    string       // the job's key
	Errors []FieldError // at least one, in line order
}

// Error returns one line per problem, each naming the job, e.g.
// `job "mysql-backup": periodic.cron (line 7): expected 5, 6 or 7 fields, got 4`.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		lines[i] = fmt.Sprintf("job %q: %s", e.Job, fe.Error())
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// FieldError is one problem in a job file.
type FieldError struct {
	Field string // dotted path such as "periodic.cron" or "constraints[0].value"; empty for the file as a whole
	Line  int    // 1-based line in the file; 0 if unknown
	Msg   string
}

// Error returns the problem as "field (line N): message".
func (e FieldError) Error() string {
	var where string
	switch {
	case e.Field != "" && e.Line > 0:
		where = fmt.Sprintf("%s (line %d): ", e.Field, e.Line)
	case e.Field != "":
		where = e.Field + ": "
	case e.Line > 0:
		where = fmt.Sprintf("line %d: ", e.Line)
	}
	return where + e.Msg
}

// problems collects FieldErrors, finding each field's line in the file.
type problems struct {
	lines map[string]int // field path to line, from decoding
	list  []FieldError
}

// addf records a problem with field, at the line of field or of its nearest
// ancestor that appears in the file.
func (p *problems) addf(field, format string, args ...any) {
	p.list = append(p.list, FieldError{Field: field, Line: p.line(field), Msg: fmt.Sprintf(format, args...)})
}

// addAt records a problem at a known line.
func (p *problems) addAt(field string, line int, format string, args ...any) {
	p.list = append(p.list, FieldError{Field: field, Line: line, Msg: fmt.Sprintf(format, args...)})
}

// line returns the line of field, or of its nearest ancestor in the file.
func (p *problems) line(field string) int {
	for field != "" {
		if l, ok := p.lines[field]; ok {
			return l
		}
		i := strings.LastIndexAny(field, ".[")
		if i < 0 {
			break
		}
		field = field[:i]
	}
	return 0
}

// err returns the problems as a *ValidationError for job, in line order
// (problems without a line first), or nil if there are none.
func (p *problems) err(job string) error {
	if len(p.list) == 0 {
		return nil
	}
	slices.SortStableFunc(p.list, func(a, b FieldError) int { return cmp.Compare(a.Line, b.Line) })
	return &ValidationError{Job: job, Errors: p.list}
}
