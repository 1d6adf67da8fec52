package job

import (
	"fmt"
	"strconv"
	"strings"
)

// cronField describes one field of a calendar expression.
type cronField struct {
	name     string
	min, max int            // the values "*" stands for
	digits   int            // the most digits a number may have
	names    map[string]int // lower-case names, such as "jan" or "monday"
	weekday  bool           // 7 is Sunday too; see value and span
}

var (
	secondField = cronField{name: "second", min: 0, max: 59, digits: 2}
	minuteField = cronField{name: "minute", min: 0, max: 59, digits: 2}
	hourField   = cronField{name: "hour", min: 0, max: 23, digits: 2}
	domField    = cronField{name: "day-of-month", min: 1, max: 31, digits: 2}
	monthField  = cronField{name: "month", min: 1, max: 12, digits: 2, names: map[string]int{
		"jan": 1, "january": 1, "feb": 2, "february": 2, "mar": 3, "march": 3,
		"apr": 4, "april": 4, "may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7,
		"aug": 8, "august": 8, "sep": 9, "september": 9, "oct": 10, "october": 10,
		"nov": 11, "november": 11, "dec": 12, "december": 12,
	}}
	dowField = cronField{name: "day-of-week", min: 0, max: 6, digits: 2, weekday: true, names: map[string]int{
		"sun": 0, "sunday": 0, "mon": 1, "monday": 1, "tue": 2, "tuesday": 2,
		"wed": 3, "wednesday": 3, "thu": 4, "thursday": 4, "fri": 5, "friday": 5,
		"sat": 6, "saturday": 6,
	}}
	yearField = cronField{name: "year", min: firstYear, max: lastYear, digits: 4}
)

// maxStep is the largest step cronexpr reads in any field.
const maxStep = 59

// fieldSet is a parsed field: the values of its plain entries, and whether
// an entry was "*" or "?" (star) or a step.
type fieldSet struct {
	values []int
	star   bool
	step   bool
}

// parse reads a comma-separated list of plain entries: "*", "?", a value, a
// range "a-b", or a step "*/n", "a/n", "a-b/n". special, if not nil, is
// tried first on each entry and reports whether it consumed it.
func (f cronField) parse(field string, special func(entry string) (bool, error)) (fieldSet, error) {
	var fs fieldSet
	for _, entry := range strings.Split(strings.ToLower(field), ",") {
		if entry == "" {
			return fs, fmt.Errorf("%s field %q: empty list entry", f.name, field)
		}
		if special != nil {
			ok, err := special(entry)
			if err != nil {
				return fs, fmt.Errorf("%s field %q: %w", f.name, entry, err)
			}
			if ok {
				continue
			}
		}
		if entry == "*" || entry == "?" {
			fs.star = true
			continue
		}
		lo, hi, step, err := f.span(entry)
		if err != nil {
			return fs, fmt.Errorf("%s field %q: %w", f.name, entry, err)
		}
		fs.step = fs.step || strings.Contains(entry, "/")
		for v := lo; v <= hi; v += step {
			fs.values = append(fs.values, v)
		}
	}
	if fs.star {
		fs.values = fs.values[:0]
		for v := f.min; v <= f.max; v++ {
			fs.values = append(fs.values, v)
		}
	}
	return fs, nil
}

// bits returns the values of fs as a bitset.
func (fs fieldSet) bits() bitset {
	var b bitset
	for _, v := range fs.values {
		b |= 1 << uint(v)
	}
	return b
}

// span parses a value, range or step entry into lo..hi by step.
func (f cronField) span(entry string) (lo, hi, step int, err error) {
	base, stepText, hasStep := strings.Cut(entry, "/")
	step = 1
	if hasStep {
		if step, err = f.step(stepText); err != nil {
			return 0, 0, 0, err
		}
	}
	from, to, isRange := strings.Cut(base, "-")
	switch {
	case base == "*" && hasStep:
		return f.min, f.max, step, nil
	case !isRange:
		if lo, err = f.value(from); err != nil {
			return 0, 0, 0, err
		}
		if hasStep {
			// "a/n" runs from a to the field's end.
			return lo, f.max, step, nil
		}
		return lo, lo, 1, nil
	}
	if lo, err = f.value(from); err != nil {
		return 0, 0, 0, err
	}
	if hi, err = f.value(to); err != nil {
		return 0, 0, 0, err
	}
	if f.weekday && hi == 0 {
		// cronexpr reads "1-7" as Monday to Saturday, and "0-0" as every day.
		return 0, 0, 0, fmt.Errorf("range %q ends on Sunday, which Nomad's cron misreads; end it on 6 and add 0 to the list", base)
	}
	if lo > hi {
		return 0, 0, 0, fmt.Errorf("range %q starts after it ends", base)
	}
	return lo, hi, step, nil
}

// step parses the n of a step entry, as cronexpr does: 1 to the field's
// largest value, and never more than 59.
func (f cronField) step(text string) (int, error) {
	n, err := strconv.Atoi(text)
	limit := min(f.max, maxStep)
	if err != nil || !isDigits(text) || len(text) > 2 || n < 1 || n > limit {
		return 0, fmt.Errorf("step %q must be a number from 1 to %d", text, limit)
	}
	return n, nil
}

// value parses one value: a name, or a number of up to f.digits digits in
// the field's range. A weekday may be 7 for Sunday, but may not have a
// leading zero: cronexpr reads "05" as Sunday.
func (f cronField) value(text string) (int, error) {
	if v, ok := f.names[text]; ok {
		return v, nil
	}
	if !isDigits(text) || len(text) > f.digits {
		if f.names != nil {
			return 0, fmt.Errorf("%q is not a %s number or name", text, f.name)
		}
		return 0, fmt.Errorf("%q is not a %d-digit %s number", text, f.digits, f.name)
	}
	if f.weekday && len(text) > 1 && text[0] == '0' {
		return 0, fmt.Errorf("%q has a leading zero, which Nomad's cron misreads as Sunday", text)
	}
	v, _ := strconv.Atoi(text)
	hi := f.max
	if f.weekday {
		hi = 7
	}
	if v < f.min || v > hi {
		return 0, fmt.Errorf("%s is out of range %d-%d", text, f.min, hi)
	}
	if f.weekday {
		return v % 7, nil
	}
	return v, nil
}

// isDigits reports whether s is a non-empty string of ASCII digits.
func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
