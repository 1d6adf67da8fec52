package ticker

import (
	"context"
	"testing"
	"testing/synctest"

	"github.com/rs/zerolog"
)

// gatedStore is a store whose watch reports that it has sent every current value
// only once open is closed: buckets that take long to read.
type gatedStore struct {
	*memStore
	open chan struct{}
}

func (s gatedStore) Watch(ctx context.Context, out chan<- Change, runsAfter uint64) (<-chan struct{}, error) {
	ready, err := s.memStore.Watch(ctx, out, runsAfter)
	if err != nil {
		return nil, err
	}
	gated := make(chan struct{})
	go func() {
		for _, ch := range []<-chan struct{}{s.open, ready} {
			select {
			case <-ch:
			case <-ctx.Done():
				return
			}
		}
		close(gated)
	}()
	return gated, nil
}

func TestADispatcherIsLoadedOnlyOnceEveryBucketWasRead(t *testing.T) {
	simulate(t, start, func(t *testing.T, s *sim) {
		s.putJob("j", jobYAML("@every 1s", ""))
		store := gatedStore{memStore: s.store, open: make(chan struct{})}
		d := newDispatcher(store, s.clock, zerolog.Nop())
		ctx, cancel := context.WithCancel(s.ctx)
		done := make(chan struct{})
		go func() { defer close(done); _ = d.run(ctx, nil, nil) }()
		synctest.Wait()
		select {
		case <-d.loadedSignal():
			t.Fatal("loaded before every bucket was read")
		default:
		}
		close(store.open)
		synctest.Wait()
		select {
		case <-d.loadedSignal():
		default:
			t.Fatal("not loaded once every bucket was read")
		}
		cancel()
		<-done
	})
}
