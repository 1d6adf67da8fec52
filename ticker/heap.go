package ticker

import (
	"container/heap"
	"time"
)

// launchHeap orders jobs by when they are to be decided next, soonest first; a job
// that never fires again (zero time) sorts last. Each entry knows its index so it can be fixed or
// removed in O(log n) when its job changes, as in Nomad's periodic dispatcher.
type launchHeap []*jobEntry

func (h launchHeap) Len() int { return len(h) }

func (h launchHeap) Less(i, j int) bool {
	a, b := h[i].wake, h[j].wake
	switch {
	case a.IsZero():
		return false
	case b.IsZero():
		return true
	}
	return a.Before(b)
}

func (h launchHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}

func (h *launchHeap) Push(x any) {
	e := x.(*jobEntry)
	e.index = len(*h)
	*h = append(*h, e)
}

func (h *launchHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	e.index = -1
	return e
}

// set places e in the heap to be decided at at, adding or moving it.
func (h *launchHeap) set(e *jobEntry, at time.Time) {
	e.wake = at
	if e.index >= 0 {
		heap.Fix(h, e.index)
		return
	}
	heap.Push(h, e)
}

// remove takes e out of the heap if it is in it.
func (h *launchHeap) remove(e *jobEntry) {
	if e.index >= 0 {
		heap.Remove(h, e.index)
	}
}

// peek returns the job to decide soonest, nil if none fires again.
func (h launchHeap) peek() *jobEntry {
	if len(h) == 0 || h[0].wake.IsZero() {
		return nil
	}
	return h[0]
}
