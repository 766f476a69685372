package pgstore

import (
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// signal returns a Committed callback and the channel it signals, without ever blocking.
func signal() (func(), chan struct{}) {
	ch := make(chan struct{}, 1)
	return func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}, ch
}

func waitSignal(t *testing.T, ch chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(15 * time.Second):
		t.Fatalf("no Committed call for %s", what)
	}
}

// drain empties ch, so that the next signal is a new one.
func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}

// A write on one node wakes the followers of every node.
func TestCommittedFromAnyNode(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	committed, ch := signal()
	follower := openAt(t, dsn, Options{Committed: committed})
	writer := openAt(t, dsn, Options{})

	mustJob(t, writer, "backup")
	waitSignal(t, ch, "a job created on another node")
	drain(ch)
	if _, err := follower.InsertRun(t.Context(), store.RunInsertParams{Job: "backup", Trigger: arbiter.TriggerManual, Now: t0}); err != nil {
		t.Fatal(err)
	}
	waitSignal(t, ch, "a run inserted on the same node")
}

// When the listener's connection drops, it reconnects, calls Committed once (what was notified
// meanwhile is lost), and relays notifications again.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	committed, ch := signal()
	follower := openAt(t, dsn, Options{Committed: committed})
	writer := openAt(t, dsn, Options{})
	admin := rawConn(t, pg.DSN())

	pid := follower.listenPID.Load()
	var ok bool
	if err := admin.QueryRow(t.Context(), `SELECT pg_terminate_backend($1)`, int32(pid)).Scan(&ok); err != nil || !ok {
		t.Fatalf("pg_terminate_backend(%d) = %v, %v", pid, ok, err)
	}
	waitSignal(t, ch, "the reconnection")
	eventually(t, "the listener to reconnect", func() bool { return follower.reconnects.Load() == 1 })
	if follower.listenPID.Load() == pid {
		t.Errorf("the listener still has backend %d", pid)
	}
	drain(ch)
	mustJob(t, writer, "after")
	waitSignal(t, ch, "a write after the reconnection")
}
