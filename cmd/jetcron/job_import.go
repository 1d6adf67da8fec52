package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/jetcron/jetcron/internal/atomicfile"
	"github.com/jetcron/jetcron/nomadjob"
)

// maxNomadFileSize bounds the Nomad job file `job import` reads: Nomad's own
// examples are mostly comments, and 16 KB long.
const maxNomadFileSize = 1 << 20

// cmdJobImport is `jetcron job import [-o OUT] FILE.nomad.hcl`.
func cmdJobImport(args []string, stdout, stderr io.Writer) int {
	c := localCommand(usage{name: "job import", args: "FILE.nomad.hcl", synopsis: "Turns a Nomad periodic batch job (HCL, one raw_exec task) into a jetcron job\n" +
		"file, printed on stdout or written to -o OUT. Whatever has no jetcron meaning\n" +
		"(a docker task, a network, a service, count > 1, ...) is refused by name and\n" +
		"line, never dropped: every such problem is printed, as FILE:LINE: what: why,\n" +
		"and nothing is written. The file written passes `jetcron job validate`.\n" +
		"Needs no server."})
	out := c.fs.String("o", "", "write the job file to `OUT` instead of stdout, replacing it whole")
	pos, code, ok := c.parse(args, 1, 1, stdout, stderr)
	if !ok {
		return code
	}
	src, err := readNomadFile(pos[0])
	if err != nil {
		return fail(stderr, err)
	}
	data, name, err := nomadjob.Convert(pos[0], src)
	if err != nil {
		var refused *nomadjob.Error
		if !errors.As(err, &refused) {
			return fail(stderr, err)
		}
		for _, p := range refused.Problems {
			fmt.Fprintln(stderr, p.Error())
		}
		fmt.Fprintf(stderr, "Error: %s cannot be imported: %d problem(s) above; nothing written\n", pos[0], len(refused.Problems))
		return exitError
	}
	if *out == "" {
		if _, err := stdout.Write(data); err != nil {
			return fail(stderr, fmt.Errorf("write the job file: %w", err))
		}
		return exitOK
	}
	if err := atomicfile.Write(*out, data, 0o644); err != nil {
		return fail(stderr, fmt.Errorf("write the job file: %w", err))
	}
	fmt.Fprintf(stdout, "Job %q imported to %s; store it with: jetcron job run %s\n", name, *out, *out)
	return exitOK
}

// readNomadFile reads a Nomad job file of at most maxNomadFileSize bytes.
func readNomadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("nomad job file: %w", errors.Unwrap(err))
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxNomadFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read nomad job file %s: %w", path, err)
	}
	if len(data) > maxNomadFileSize {
		return nil, fmt.Errorf("nomad job file %s is larger than %d bytes", path, maxNomadFileSize)
	}
	return data, nil
}
