package configs

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNoSuchFile is the error of a FieldError for a config path that
	// does not exist.
	ErrNoSuchFile = errors.New("no such file")
	// ErrEmptyFolder is the error of a FieldError for a config folder that
	// holds no *.yaml or *.yml file.
	ErrEmptyFolder = errors.New("is a folder with no *.yaml or *.yml files")
)

// FieldError is one problem with the configuration. Load returns every
// problem it finds, joined with errors.Join; use errors.As to get the first
// one, or errors.Is with ErrNoSuchFile or ErrEmptyFolder.
//
// It reads as "file:line: field: what is wrong", leaving out what is not
// known: a value from a default or a flag has no file, and a problem with a
// whole file has no field.
type FieldError struct {
	// File is the config file the bad value came from; empty for defaults
	// and flags.
	File string
	// Line is the line in File; 0 when the problem is with the whole file.
	Line int
	// Field is the dotted path of the field, such as
	// "server.bootstrap_expect" or `client.meta["rack"]`; empty when the
	// problem is not with one field.
	Field string
	// Err says what is wrong.
	Err error
}

// Error formats the problem as "file:line: field: what is wrong".
func (e *FieldError) Error() string {
	var b strings.Builder
	switch {
	case e.File != "" && e.Line > 0:
		fmt.Fprintf(&b, "%s:%d: ", e.File, e.Line)
	case e.File != "":
		fmt.Fprintf(&b, "config file %q: ", e.File)
	}
	if e.Field != "" {
		b.WriteString(e.Field + ": ")
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns what is wrong.
func (e *FieldError) Unwrap() error {
	return e.Err
}
