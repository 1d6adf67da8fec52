package job

import (
	"flag"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/cronexpr"
)

var cronSeed = flag.Uint64("cronseed", 1, "seed of the random expressions in TestScheduleMatchesCronexpr")

// TestScheduleMatchesCronexpr compares the next three launches of random
// expressions from random start times with Nomad's cronexpr: in UTC, and
// once per expression in Asia/Kolkata, whose offset (+05:30) has not changed
// since 1945.
func TestScheduleMatchesCronexpr(t *testing.T) {
	const chunks, exprs, starts = 4, 2500, 3
	kolkata, err := time.LoadLocation("Asia/Kolkata")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("seed %d: %d expressions, %d start times each", *cronSeed, chunks*exprs, starts)
	for chunk := range uint64(chunks) {
		t.Run(fmt.Sprint(chunk), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(*cronSeed, chunk))
			for range exprs {
				compareWithCronexpr(t, randomCronExpr(r), r, starts, kolkata)
			}
		})
	}
}

// compareWithCronexpr compares launches after starts random times, the last
// one in other.
func compareWithCronexpr(t *testing.T, e string, r *rand.Rand, starts int, other *time.Location) {
	t.Helper()
	want, err := cronexpr.Parse(e)
	if err != nil {
		t.Fatalf("generator made %q, which cronexpr rejects: %v", e, err)
	}
	got, err := parseSchedule(e, time.UTC, time.Time{})
	if err != nil {
		// Only an expression that cronexpr never fires may be rejected.
		if n := want.Next(searchStart); !n.IsZero() || !strings.HasPrefix(err.Error(), "never fires") {
			t.Fatalf("ParseSchedule(%q): %v; cronexpr fires at %s", e, err, n)
		}
		return
	}
	for i := range starts {
		from := randomTime(r)
		if i == starts-1 {
			if got, err = parseSchedule(e, other, time.Time{}); err != nil {
				t.Fatalf("ParseSchedule(%q) in %s: %v", e, other, err)
			}
			from = from.In(other)
		}
		for n := range 3 {
			g, w := got.Next(from), want.Next(from)
			if !g.Equal(w) {
				t.Fatalf("%q: launch %d after %s: got %s, cronexpr %s", e, n+1, from.Format(time.RFC3339Nano), g, w)
			}
			if g.IsZero() {
				break
			}
			from = g
		}
	}
}

// randomTime returns a time from 1969 to 2100 in UTC, with nanoseconds.
func randomTime(r *rand.Rand) time.Time {
	lo := time.Date(1969, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2100, 6, 1, 0, 0, 0, 0, time.UTC).Unix()
	ns := int64(0)
	if r.IntN(2) == 0 {
		ns = r.Int64N(int64(time.Second))
	}
	return time.Unix(lo+r.Int64N(hi-lo), ns).UTC()
}

// randomCronExpr returns a valid 5, 6 or 7 field expression.
func randomCronExpr(r *rand.Rand) string {
	n := 5 + r.IntN(3)
	var f []string
	if n == 7 {
		f = append(f, randomCronField(r, secondField))
	}
	f = append(f,
		randomCronField(r, minuteField),
		randomCronField(r, hourField),
		randomCronField(r, domField),
		randomCronField(r, monthField),
		randomCronField(r, dowField))
	if n >= 6 {
		f = append(f, randomCronField(r, yearField))
	}
	return strings.Join(f, " ")
}

func randomCronField(r *rand.Rand, f cronField) string {
	if r.IntN(3) == 0 {
		return []string{"*", "*", "?"}[r.IntN(3)]
	}
	entries := make([]string, 1+r.IntN(3)*r.IntN(2))
	for i := range entries {
		entries[i] = randomCronEntry(r, f)
	}
	return strings.Join(entries, ",")
}

func randomCronEntry(r *rand.Rand, f cronField) string {
	hi := f.max
	if f.digits == 4 && r.IntN(4) > 0 {
		hi = f.min + 70 // keep most years within reach of the start times
	}
	val := func(lo int) string { return randomCronValue(r, f, lo+r.IntN(hi-lo+1)) }
	step := func() string { return strconv.Itoa(1 + r.IntN(min(f.max, maxStep))) }
	switch k := r.IntN(10); {
	case k < 3:
		return val(f.min)
	case k < 5:
		a := f.min + r.IntN(hi-f.min+1)
		b := a + r.IntN(hi-a+1)
		if f.weekday && b == 0 {
			b = 1 + r.IntN(6)
		}
		return randomCronValue(r, f, a) + "-" + randomCronValue(r, f, b)
	case k == 5:
		return "*/" + step()
	case k == 6:
		return val(f.min) + "/" + step()
	case k == 7:
		a := f.min + r.IntN(hi-f.min+1)
		b := max(a+r.IntN(hi-a+1), 1)
		return randomCronValue(r, f, a) + "-" + randomCronValue(r, f, b) + "/" + step()
	}
	switch f.name {
	case domField.name:
		return randomCase(r, []string{"L", "LW", strconv.Itoa(1+r.IntN(31)) + "W"}[r.IntN(3)])
	case dowField.name:
		d := randomCronValue(r, f, r.IntN(8))
		if r.IntN(2) == 0 {
			return randomCase(r, d+"L")
		}
		return d + "#" + strconv.Itoa(1+r.IntN(5))
	}
	return val(f.min)
}

// randomCronValue spells v as a number, a name, or with a leading zero.
func randomCronValue(r *rand.Rand, f cronField, v int) string {
	if f.names != nil && r.IntN(3) == 0 {
		var names []string
		for name, nv := range f.names {
			if nv == v || f.weekday && nv == v%7 {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		if len(names) > 0 {
			return randomCase(r, names[r.IntN(len(names))])
		}
	}
	if v < 10 && !f.weekday && f.digits == 2 && r.IntN(5) == 0 {
		return fmt.Sprintf("%02d", v)
	}
	return strconv.Itoa(v)
}

func randomCase(r *rand.Rand, s string) string {
	switch r.IntN(3) {
	case 0:
		return strings.ToUpper(s)
	case 1:
		return strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}
