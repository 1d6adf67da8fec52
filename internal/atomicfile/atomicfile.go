// Package atomicfile writes the files that jetcron's tooling makes (credentials,
// keys, certificates) so that a reader never sees half of one, and a secret never
// has more permissions than asked for.
package atomicfile

import (
	"fmt"
	"os"
)

// Write replaces path with data, whole, and with exactly mode: it writes a
// temporary file beside path, sets its mode (the umask may have taken bits), and
// renames it over path.
func Write(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
