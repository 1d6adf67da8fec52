package cluster

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Build compiles the jetcron binary and the pinned nats CLI (tools/go.mod) of the
// module rooted at repo into dir, and returns their paths.
func Build(ctx context.Context, repo, dir string) (jetcron, natsCLI string, err error) {
	jetcron, natsCLI = filepath.Join(dir, "jetcron"), filepath.Join(dir, "nats")
	for _, argv := range [][]string{
		{"go", "build", "-o", jetcron, "./cmd/jetcron"},
		{"go", "build", "-modfile=tools/go.mod", "-o", natsCLI, "github.com/nats-io/natscli/nats"},
	} {
		cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
		cmd.Dir = repo
		cmd.Env = os.Environ()
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
		}
	}
	return jetcron, natsCLI, nil
}

// RepoRoot finds the module root (the folder with go.mod) from the working directory up.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			if _, err := os.Stat(filepath.Join(dir, "tools", "go.mod")); err == nil {
				return dir, nil
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod with tools/go.mod above the working directory")
		}
		dir = parent
	}
}
