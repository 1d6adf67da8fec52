package embed

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// natsLogger bridges nats-server's logger to zerolog. NATS's notice is
// zerolog's info, except while the server starts: its banner (version, name, ID,
// JetStream limits, twenty lines) goes to debug, and Start logs it as one info line.
// A NATS fatal is logged at error level with fatal=true and remembered for Start,
// since an embedded server must never exit the process.
type natsLogger struct {
	log      zerolog.Logger
	starting atomic.Bool // notices are the banner: debug, not info

	mu    sync.Mutex
	fatal string // the first fatal message
}

var _ server.Logger = (*natsLogger)(nil)

func newNATSLogger(l zerolog.Logger) *natsLogger {
	lg := &natsLogger{log: l}
	lg.starting.Store(true)
	return lg
}

// levels reports whether NATS should produce debug and trace logs: only when
// they would be written, so that a quiet logger costs nothing.
func (l *natsLogger) levels(trace bool) (debug, traceOn bool) {
	debug = enabled(l.log.Debug())
	traceOn = trace && enabled(l.log.Trace())
	return debug, traceOn
}

func enabled(e *zerolog.Event) bool {
	if e == nil {
		return false
	}
	e.Discard()
	return true
}

func (l *natsLogger) Noticef(format string, v ...any) {
	if l.starting.Load() {
		l.log.Debug().Msgf(format, v...)
		return
	}
	l.log.Info().Msgf(format, v...)
}
func (l *natsLogger) Warnf(format string, v ...any)  { l.log.Warn().Msgf(format, v...) }
func (l *natsLogger) Errorf(format string, v ...any) { l.log.Error().Msgf(format, v...) }
func (l *natsLogger) Debugf(format string, v ...any) { l.log.Debug().Msgf(format, v...) }
func (l *natsLogger) Tracef(format string, v ...any) { l.log.Trace().Msgf(format, v...) }

func (l *natsLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	l.mu.Lock()
	if l.fatal == "" {
		l.fatal = msg
	}
	l.mu.Unlock()
	l.log.Error().Bool("fatal", true).Msg(msg)
}

func (l *natsLogger) fatalMsg() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatal
}
