// Command stamp is the benchmark's job: it appends one line to the file named by its
// first argument, as early as a Go program can,
//
//	$JETCRON_RUN_ID $JETCRON_SCHEDULED <unix nanoseconds at start>
//
// with a single write on an O_APPEND file, so that concurrent runs never interleave.
package main

import (
	"os"
	"strconv"
	"time"
)

func main() {
	now := time.Now().UnixNano()
	if len(os.Args) < 2 {
		os.Exit(2)
	}
	line := os.Getenv("JETCRON_RUN_ID") + " " + os.Getenv("JETCRON_SCHEDULED") + " " + strconv.FormatInt(now, 10) + "\n"
	f, err := os.OpenFile(os.Args[1], os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		os.Exit(1)
	}
	if _, err := f.Write([]byte(line)); err != nil {
		os.Exit(1)
	}
	_ = f.Close()
}
