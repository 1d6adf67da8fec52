package job

import (
	"math/bits"
	"time"
)

// The years a calendar expression can name, as in cronexpr. No search ever
// looks past lastYear, so Next always ends.
const (
	firstYear = 1970
	lastYear  = 2099
)

// bitset is a set of small integers, 0 to 63.
type bitset uint64

// daysUpTo returns the set {1, ..., last}.
func daysUpTo(last int) bitset { return bitset(1)<<uint(last+1) - 2 }

func (b bitset) has(v int) bool { return v >= 0 && v < 64 && b&(1<<uint(v)) != 0 }

// next returns the smallest member of b that is v or more.
func (b bitset) next(v int) (int, bool) {
	if v >= 64 {
		return 0, false
	}
	x := uint64(b) >> uint(v) << uint(v)
	if x == 0 {
		return 0, false
	}
	return bits.TrailingZeros64(x), true
}

// yearSet is a set of years from firstYear to lastYear.
type yearSet [3]bitset

func (s *yearSet) add(y int) { s[(y-firstYear)/64] |= 1 << uint((y-firstYear)%64) }

func (s *yearSet) has(y int) bool {
	return y >= firstYear && y <= lastYear && s[(y-firstYear)/64].has((y-firstYear)%64)
}

// next returns the smallest member of s that is y or more.
func (s *yearSet) next(y int) (int, bool) {
	for y = max(y, firstYear); y <= lastYear; y++ {
		if s.has(y) {
			return y, true
		}
	}
	return 0, false
}

// calendar is a parsed calendar expression: the wall-clock times it matches,
// with cronexpr's meaning of every field.
type calendar struct {
	seconds, minutes, hours bitset
	months                  bitset // 1 to 12
	years                   yearSet

	domRestricted bool   // day-of-month is not * or ?
	dom           bitset // plain days, 1 to 31
	domWork       bitset // nW: the weekday nearest to day n
	domLast       bool   // L
	domLastWork   bool   // LW

	dowRestricted bool      // day-of-week is not * or ?
	dow           bitset    // weekdays, 0 (Sunday) to 6
	dowNth        [5]bitset // d#k: weekdays in dowNth[k-1]
	dowLast       bitset    // dL: the last such weekday of the month
}

// days returns the days of the month that match. As in cron (and
// cronexpr), when both day fields are restricted a day matches either one.
func (c *calendar) days(year int, month time.Month) bitset {
	first := time.Date(year, month, 1, 0, 0, 0, 0, time.UTC)
	last := first.AddDate(0, 1, -1).Day()
	if !c.domRestricted && !c.dowRestricted {
		return daysUpTo(last)
	}
	var d bitset
	if c.domRestricted {
		d |= c.dom & daysUpTo(last)
		if c.domLast {
			d |= 1 << uint(last)
		}
		if c.domLastWork {
			d |= 1 << uint(nearestWorkday(first, last, last))
		}
		for v := 1; v <= last; v++ {
			if c.domWork.has(v) {
				d |= 1 << uint(nearestWorkday(first, v, last))
			}
		}
	}
	if c.dowRestricted {
		wd1 := int(first.Weekday())
		for day := 1; day <= last; day++ {
			wd := (wd1 + day - 1) % 7
			if c.dow.has(wd) || c.dowNth[(day-1)/7].has(wd) || (day > last-7 && c.dowLast.has(wd)) {
				d |= 1 << uint(day)
			}
		}
	}
	return d
}

// nearestWorkday returns the weekday nearest to day in the month starting at
// first, never crossing the month's bounds (a Saturday the 1st gives Monday
// the 3rd).
func nearestWorkday(first time.Time, day, last int) int {
	switch first.AddDate(0, 0, day-1).Weekday() {
	case time.Saturday:
		if day > 1 {
			return day - 1
		}
		return day + 2
	case time.Sunday:
		if day < last {
			return day + 1
		}
		return day - 2
	}
	return day
}

// next returns the first wall-clock time at or after from that matches, or
// the zero time if there is none up to the end of lastYear. Wall-clock times
// are represented as times in UTC.
func (c *calendar) next(from time.Time) time.Time {
	t := from
	for {
		y, mo, d := t.Date()
		if !c.years.has(y) {
			ny, ok := c.years.next(y)
			if !ok {
				return time.Time{}
			}
			t = date(ny, 1, 1, 0, 0, 0)
			continue
		}
		if !c.months.has(int(mo)) {
			if nm, ok := c.months.next(int(mo)); ok {
				t = date(y, time.Month(nm), 1, 0, 0, 0)
			} else {
				t = date(y+1, 1, 1, 0, 0, 0)
			}
			continue
		}
		if days := c.days(y, mo); !days.has(d) {
			if nd, ok := days.next(d); ok {
				t = date(y, mo, nd, 0, 0, 0)
			} else {
				t = date(y, mo+1, 1, 0, 0, 0)
			}
			continue
		}
		h, mi, s := t.Clock()
		if !c.hours.has(h) {
			if nh, ok := c.hours.next(h); ok {
				t = date(y, mo, d, nh, 0, 0)
			} else {
				t = date(y, mo, d+1, 0, 0, 0)
			}
			continue
		}
		if !c.minutes.has(mi) {
			if nm, ok := c.minutes.next(mi); ok {
				t = date(y, mo, d, h, nm, 0)
			} else {
				t = date(y, mo, d, h+1, 0, 0)
			}
			continue
		}
		if !c.seconds.has(s) {
			if ns, ok := c.seconds.next(s); ok {
				t = date(y, mo, d, h, mi, ns)
			} else {
				t = date(y, mo, d, h, mi+1, 0)
			}
			continue
		}
		return t
	}
}

func date(y int, mo time.Month, d, h, mi, s int) time.Time {
	return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
}
