package configs

import (
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/jetcron/jetcron/runner"
)

// The systemd unit lets a stopping runner host use its whole default shutdown
// grace, kill what is left and record it before systemd SIGKILLs the agent: its
// TimeoutStopSec exceeds the default client.shutdown_grace, plus the default
// kill_timeout, plus the time recording the outcomes may take (30s while NATS
// elects a leader).
func TestUnitStopTimeoutCoversTheShutdownGrace(t *testing.T) {
	const recording = 30 * time.Second
	unit, err := os.ReadFile("jetcron.service")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)$`).FindSubmatch(unit)
	if m == nil {
		t.Fatal("jetcron.service sets no TimeoutStopSec in seconds")
	}
	secs, err := strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	stop := time.Duration(secs) * time.Second
	if need := DefaultShutdownGrace + runner.DefaultKillTimeout + recording; stop <= need {
		t.Errorf("TimeoutStopSec=%d: want more than the grace %v + kill_timeout %v + recording %v = %v",
			secs, DefaultShutdownGrace, runner.DefaultKillTimeout, recording, need)
	}
}
