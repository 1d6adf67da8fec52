package main

import (
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// nomadTestdata is where the nomadjob package keeps its Nomad job files.
const nomadTestdata = "../../nomadjob/testdata"

// lineWith returns the 1-based line of path whose trimmed text starts with text.
func lineWith(t *testing.T, path, text string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); !strings.HasPrefix(line, "#") && strings.HasPrefix(line, text) {
			return i + 1
		}
	}
	t.Fatalf("%s has no line starting with %q", path, text)
	return 0
}

func TestJobImportSeedJobWritesAFileJobValidateAccepts(t *testing.T) {
	seed := filepath.Join(nomadTestdata, "mysql-backup.nomad.hcl")
	out := filepath.Join(t.TempDir(), "mysql-backup.yaml")
	stdout, stderr, code := runCmd(func(a []string, o, e io.Writer) int { return run(a, o, e) }, "job", "import", "-o", out, seed)
	if code != exitOK || stderr != "" {
		t.Fatalf("job import: code %d stderr %q", code, stderr)
	}
	if want := `Job "mysql-backup" imported to ` + out; !strings.HasPrefix(stdout, want) {
		t.Errorf("stdout %q, want it to start with %q", stdout, want)
	}
	stdout, stderr, code = runCmd(cmdJobValidate, "-from", "2016-10-18T22:22:09Z", "-count", "1", out)
	if code != exitOK || stdout != "Job validation successful\n2016-10-18T23:00:00Z\n" {
		t.Fatalf("job validate of the import: code %d stdout %q stderr %q", code, stdout, stderr)
	}
	// Without -o, the same file goes to stdout.
	written, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if stdout, _, code := runCmd(cmdJobImport, seed); code != exitOK || stdout != string(written) {
		t.Errorf("without -o: code %d, stdout\n%s\nwant the file written with -o\n%s", code, stdout, written)
	}
}

func TestJobImportDockerExampleExits1NamingEachFieldAndLineWritingNothing(t *testing.T) {
	example := filepath.Join(nomadTestdata, "example.nomad.hcl")
	dir := t.TempDir()
	out := filepath.Join(dir, "example.yaml")
	stdout, stderr, code := runCmd(cmdJobImport, example, "-o", out)
	if code != exitError || stdout != "" {
		t.Fatalf("code %d stdout %q, want 1 and nothing", code, stdout)
	}
	for _, w := range []struct{ at, says string }{
		{`driver = "docker"`, `task "redis": driver "docker" has no jetcron meaning`},
		{"network {", `group "cache": network block has no jetcron meaning`},
		{"service {", `group "cache": service block has no jetcron meaning`},
	} {
		line := example + ":" + strconv.Itoa(lineWith(t, example, w.at)) + ": " + w.says
		if !strings.Contains(stderr, "\n"+line) {
			t.Errorf("stderr lacks a line starting %q:\n%s", line, stderr)
		}
	}
	if !strings.HasSuffix(stderr, "Error: "+example+" cannot be imported: 9 problem(s) above; nothing written\n") {
		t.Errorf("stderr does not end with the count of problems:\n%s", stderr)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the refused import left %v in -o's directory", entries)
	}
	// A file already at -o stays as it was.
	if err := os.WriteFile(out, []byte("before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := runCmd(cmdJobImport, "-o", out, example); code != exitError {
		t.Fatalf("code %d, want 1", code)
	}
	if data, _ := os.ReadFile(out); string(data) != "before\n" {
		t.Errorf("-o file now holds %q, want it untouched", data)
	}
}

func TestJobImportMissingFileOrArgument(t *testing.T) {
	_, stderr, code := runCmd(cmdJobImport, filepath.Join(t.TempDir(), "absent.nomad.hcl"))
	if code != exitError || !strings.HasPrefix(stderr, "Error: nomad job file: no such file or directory") {
		t.Errorf("absent file: code %d stderr %q", code, stderr)
	}
	_, stderr, code = runCmd(cmdJobImport)
	if code != exitUsage || !strings.Contains(stderr, "Usage: jetcron job import [options] FILE.nomad.hcl") {
		t.Errorf("no argument: code %d stderr %q", code, stderr)
	}
}
