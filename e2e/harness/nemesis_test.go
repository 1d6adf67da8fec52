package harness

import (
	"math/rand/v2"
	"testing"
)

// The nemesis deals every kind of fault within the first len(kinds) faults, whatever
// the seed, and the weighted list after that.
func TestDealerEveryKindFirst(t *testing.T) {
	faults := []fault{
		faultLeaderKill, faultLeaderKill, faultLeaderPause, faultServerKill, faultRunnerKill,
		faultRunnerPause, faultClusterRestart, faultPartition, faultPartition, faultPartition,
	}
	ks := kinds(faults)
	if len(ks) != 7 {
		t.Fatalf("kinds(%v) = %v, want the 7 kinds", faults, ks)
	}
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, seed>>1|1))
		d := newDealer(faults, r)
		seen := map[fault]bool{}
		for range ks {
			seen[d.next(r)] = true
		}
		if len(seen) != len(ks) {
			t.Fatalf("seed %d: the first %d faults dealt %v, not every kind", seed, len(ks), seen)
		}
		counts := map[fault]int{}
		for range faults {
			counts[d.next(r)]++
		}
		if counts[faultPartition] != 3 || counts[faultLeaderKill] != 2 || counts[faultServerKill] != 1 {
			t.Fatalf("seed %d: the second deck dealt %v, want the weighted list once", seed, counts)
		}
	}
}
