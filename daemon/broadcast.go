package daemon

import "sync"

// broadcaster wakes everyone waiting on a key (a run id) at once: each Notify closes the key's
// channel, and the next Wait gets a fresh one. Followers re-read the store after waking, so a
// notification carries no data and none is lost by coalescing.
type broadcaster struct {
	mu    sync.Mutex
	chans map[int64]chan struct{}
}

func newBroadcaster() *broadcaster {
	return &broadcaster{chans: make(map[int64]chan struct{})}
}

func (b *broadcaster) Wait(key int64) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, ok := b.chans[key]
	if !ok {
		ch = make(chan struct{})
		b.chans[key] = ch
	}
	return ch
}

func (b *broadcaster) Notify(key int64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch, ok := b.chans[key]; ok {
		close(ch)
		delete(b.chans, key)
	}
}
