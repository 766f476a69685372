package daemon

import "sync"

// broadcaster wakes everyone waiting on a key (a run id, a job name) at once: each Notify
// closes the key's channel, and the next Wait gets a fresh one. Waiters re-read what they wait
// for after waking, so a notification carries no data and none is lost by coalescing.
type broadcaster[K comparable] struct {
	mu    sync.Mutex
	chans map[K]chan struct{}
}

func newBroadcaster[K comparable]() *broadcaster[K] {
	return &broadcaster[K]{chans: make(map[K]chan struct{})}
}

func (b *broadcaster[K]) Wait(key K) <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch, ok := b.chans[key]
	if !ok {
		ch = make(chan struct{})
		b.chans[key] = ch
	}
	return ch
}

func (b *broadcaster[K]) Notify(key K) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if ch, ok := b.chans[key]; ok {
		close(ch)
		delete(b.chans, key)
	}
}
