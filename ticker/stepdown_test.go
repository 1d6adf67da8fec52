package ticker

import (
	"testing"
	"time"
)

func TestLeadershipsMoveHalfWayBetweenTwoSecondsAfterTheWait(t *testing.T) {
	base := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		now   time.Duration // after base
		after time.Duration
		want  time.Duration
	}{
		{0, 3 * time.Second, 3500 * time.Millisecond},
		{200 * time.Millisecond, time.Second, 1300 * time.Millisecond},
		{500 * time.Millisecond, time.Second, time.Second},
		{700 * time.Millisecond, time.Second, 1800 * time.Millisecond},
		{900 * time.Millisecond, 5 * time.Second, 5600 * time.Millisecond},
	} {
		if got := betweenTicks(base.Add(c.now), c.after); got != c.want {
			t.Errorf("betweenTicks(+%s, %s) = %s, want %s", c.now, c.after, got, c.want)
		}
	}
}
