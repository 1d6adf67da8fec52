// Package clock is time as a dependency: the scheduler asks a Clock for the time and
// for timers, so tests can run it on a clock of their choosing. Under testing/synctest
// the Real clock is already fake (time jumps when every goroutine is blocked); Offset
// moves it to a date a test needs, such as a DST change.
package clock

import "time"

// Clock tells the time and makes timers.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) *time.Timer
}

// Real is the system clock.
type Real struct{}

// Now returns time.Now().
func (Real) Now() time.Time { return time.Now() }

// NewTimer returns time.NewTimer(d).
func (Real) NewTimer(d time.Duration) *time.Timer { return time.NewTimer(d) }

// Offset is the system clock moved by a fixed duration: its Now is time.Now().Add(D),
// its timers are the system's. Tests use it to start a simulated day at a chosen date.
type Offset struct{ D time.Duration }

// Now returns time.Now().Add(o.D).
func (o Offset) Now() time.Time { return time.Now().Add(o.D) }

// NewTimer returns time.NewTimer(d).
func (Offset) NewTimer(d time.Duration) *time.Timer { return time.NewTimer(d) }

// At returns an Offset clock whose Now is t at the moment of the call.
func At(t time.Time) Offset { return Offset{D: time.Until(t)} }
