package pgstore

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/store"
)

// TestInsertFireFenced: a fire that carries a leader's term is recorded only while that term
// holds the scheduler lock; once the term's session has ended (its holder resigned, or the
// server ended the session of a holder that went silent), the fire is refused with
// store.ErrNotLeader and writes nothing: no run, no event. A fire without a term is recorded
// unfenced, as a single daemon's are.
func TestInsertFireFenced(t *testing.T) {
	t.Parallel()
	dsn := pg.NewDatabase(t)
	a, b := openAt(t, dsn, Options{}), openAt(t, dsn, Options{}) // two nodes
	mustJob(t, a, "tick")
	raw := rawConn(t, dsn)
	ctx := t.Context()

	sec := 0
	fireAt := func(s *Store, at time.Time, term string) (arbiter.Run, bool, error) {
		return s.InsertFire(ctx, store.FireInsertParams{Job: "tick", ScheduledAt: at,
			Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: at, Term: term})
	}
	next := func() time.Time { sec++; return t0.Add(time.Duration(sec) * time.Second) }
	written := func() (runs, events int) {
		t.Helper()
		rs, err := a.ListRuns(ctx, store.RunListParams{Job: "tick"})
		if err != nil {
			t.Fatal(err)
		}
		es, err := a.ListEvents(ctx, store.EventListParams{Job: "tick"})
		if err != nil {
			t.Fatal(err)
		}
		return len(rs), len(es)
	}
	recorded := func(s *Store, term, what string) arbiter.Run {
		t.Helper()
		run, inserted, err := fireAt(s, next(), term)
		if err != nil || !inserted {
			t.Fatalf("fire with %s: inserted %v, %v; want it recorded", what, inserted, err)
		}
		return run
	}
	refusedAt := func(s *Store, at time.Time, term, what string) {
		t.Helper()
		runs, events := written()
		run, inserted, err := fireAt(s, at, term)
		if !errors.Is(err, store.ErrNotLeader) {
			t.Errorf("fire with %s: run %d, inserted %v, %v; want ErrNotLeader", what, run.ID, inserted, err)
		}
		if r, e := written(); r != runs || e != events {
			t.Errorf("fire with %s wrote %d runs and %d events; want none", what, r-runs, e-events)
		}
	}
	refused := func(s *Store, term, what string) { t.Helper(); refusedAt(s, next(), term, what) }
	// holder is the pid of the session that holds the scheduler lock of this test's database
	// (the server's other tests have their own), 0 when none does.
	holder := func() int32 {
		t.Helper()
		var pid int32
		err := raw.QueryRow(ctx, fmt.Sprintf(`SELECT coalesce(max(pid), 0) FROM pg_locks
			WHERE locktype = 'advisory' AND classid = %d AND objid = %d AND objsubid = 1 AND granted
				AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
			uint64(schedulerLockKey)>>32, schedulerLockKey&0xffffffff)).Scan(&pid)
		if err != nil {
			t.Fatal(err)
		}
		return pid
	}

	lockA := a.SchedulerLock()
	termA, _, ok, err := lockA.TryLead(ctx)
	if err != nil || !ok {
		t.Fatalf("TryLead = %v, %v", ok, err)
	}
	pidA, startA, err := parseTerm(termA)
	if err != nil || pidA != holder() {
		t.Fatalf("term %q (%v) names pid %d; the lock is held by pid %d", termA, err, pidA, holder())
	}
	first := recorded(a, termA, "the holder's term")
	recorded(b, termA, "the holder's term, through another node's store")
	if again, inserted, err := fireAt(a, first.ScheduledAt, termA); err != nil || inserted || again.ID != first.ID {
		t.Errorf("the same fire again with the holder's term: run %d, inserted %v, %v; want run %d, not inserted",
			again.ID, inserted, err, first.ID)
	}
	for _, tc := range []struct{ name, term string }{
		{"another pid", formatTerm(pidA+1, startA)},
		{"the holder's pid and another session's start", formatTerm(pidA, startA.Add(time.Microsecond))},
	} {
		refused(a, tc.term, "a made-up term: "+tc.name)
	}
	if _, _, err := fireAt(a, next(), "not a term"); !errors.Is(err, arbiter.ErrInvalid) {
		t.Errorf("fire with a malformed term: %v, want ErrInvalid", err)
	}
	recorded(a, "", "no term")

	lockA.Resign()
	refused(a, termA, "the term of a lock its holder resigned")
	refusedAt(a, first.ScheduledAt, termA, "the term of a lock its holder resigned, for a fire already recorded")
	recorded(a, "", "no term, while no node leads")

	// The server ends the session of the holder (as it does when the holder goes silent), from
	// another connection; the holder has not noticed yet.
	lockB := b.SchedulerLock()
	termB, _, ok, err := lockB.TryLead(ctx)
	if err != nil || !ok {
		t.Fatalf("TryLead of b = %v, %v", ok, err)
	}
	defer lockB.Resign()
	recorded(b, termB, "b's term")
	pidB := holder()
	if _, err := raw.Exec(ctx, `SELECT pg_terminate_backend($1)`, pidB); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the terminated session to release the lock", func() bool { return holder() == 0 })
	refused(b, termB, "the term of a terminated session")

	// Another node leads now: the old term stays refused, the new one is recorded.
	termA2, _, ok, err := lockA.TryLead(ctx)
	if err != nil || !ok {
		t.Fatalf("TryLead of a again = %v, %v", ok, err)
	}
	defer lockA.Resign()
	if termA2 == termA || termA2 == termB {
		t.Fatalf("a new holding of the lock has an old term: %q", termA2)
	}
	refused(b, termB, "the term of a terminated session, while another node leads")
	refused(a, termA, "a's own former term, while it leads again")
	recorded(b, termA2, "the new holder's term")
}

// BenchmarkInsertFire records b.N fires of one job, one second apart, one after the other, as
// the leader does: unfenced, as a single daemon, and fenced with the term of the scheduler
// lock's holder.
//
//	go test -run '^$' -bench InsertFire -benchtime 2000x ./store/pgstore/
func BenchmarkInsertFire(b *testing.B) {
	for _, fenced := range []bool{false, true} {
		b.Run(map[bool]string{false: "unfenced", true: "fenced"}[fenced], func(b *testing.B) {
			s, _ := openEmpty(b)
			mustJob(b, s, "tick")
			ctx := b.Context()
			var term string
			if fenced {
				l := s.SchedulerLock()
				var ok bool
				var err error
				if term, _, ok, err = l.TryLead(ctx); err != nil || !ok {
					b.Fatalf("TryLead = %v, %v", ok, err)
				}
				b.Cleanup(l.Resign)
			}
			b.ResetTimer()
			for i := range b.N {
				at := t0.Add(time.Duration(i) * time.Second)
				if _, _, err := s.InsertFire(ctx, store.FireInsertParams{Job: "tick", ScheduledAt: at,
					Trigger: arbiter.TriggerSchedule, State: arbiter.StateQueued, Now: at, Term: term}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
