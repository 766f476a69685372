package shellrunner

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/arbiterd/arbiter"
	"github.com/arbiterd/arbiter/runners"
)

// KillLeftovers stops what a run of a previous daemon left behind: after a crash, the run's
// leader died with the daemon (its parent-death signal), but the rest of its process group and
// any process that left the group may still run. Every process whose environment holds
// runners.MarkerEnv=<marker> gets SIGTERM (and SIGCONT), and SIGKILL once grace has passed if it is
// still alive (grace 0 means arbiter.DefaultKillGrace). It returns once they are all gone
// (zombies count as gone: they are not ours to reap), or killWait after SIGKILL, and reports
// how many processes it signalled.
//
// pgid, the run's process group as the store recorded it, is where its processes are expected,
// but being in that group is not enough to be killed: the number may have been reused since
// the crash (pid_max is often 32768), so a process in the group without the marker is a
// stranger and is left alone, and a process with the marker is the run's, in that group or
// outside it. The marker alone decides; pgid neither widens nor narrows the set. Only processes
// whose environment the daemon may read (its own uid's, or everyone's as root) are recognised.
//
// Call it at start-up, before the daemon starts runs of its own, for each run it marks lost. It
// blocks for up to grace plus a few seconds when something is left.
func KillLeftovers(runMarker string, pgid int, grace time.Duration) (killed int, err error) {
	if runMarker == "" {
		return 0, errors.New("kill leftovers: no run marker")
	}
	grace = cmp.Or(grace, arbiter.DefaultKillGrace)
	marker := []byte(runners.MarkerEnv + "=" + runMarker)
	self := os.Getpid()
	found := make(map[procKey]target)
	defer func() {
		for _, t := range found {
			t.close()
		}
	}()

	// find adds the live marked processes not found before and sends them sig.
	find := func(sig unix.Signal) error {
		procs, err := readProcs()
		if err != nil {
			return err
		}
		for _, p := range procs {
			if p.zombie || p.kernel || p.pid == self {
				continue
			}
			if _, ok := found[p.key()]; ok {
				continue
			}
			if t, ok := pick(p.pid, marker); ok {
				found[p.key()] = t
				killed++
				t.signal(sig)
			}
		}
		return nil
	}
	gone := func() bool {
		for _, t := range found {
			if !t.exited() {
				return false
			}
		}
		return true
	}
	wrap := func(err error) error { return fmt.Errorf("kill leftovers of run %s: %w", runMarker, err) }

	// SIGTERM, then look again: a process forked while the others stopped (by a TERM handler)
	// must not be missed. A bounded number of looks, then SIGKILL settles a tree that keeps
	// growing.
	for range 3 {
		before := killed
		if err := find(unix.SIGTERM); err != nil {
			return killed, wrap(err)
		}
		if killed == before {
			return killed, nil // all gone, nothing new
		}
		if !pollUntil(time.Now().Add(grace), gone) {
			break
		}
	}
	for range 3 {
		for _, t := range found {
			if !t.exited() {
				t.send(unix.SIGKILL)
			}
		}
		if !pollUntil(time.Now().Add(killWait), gone) {
			break
		}
		before := killed
		if err := find(unix.SIGKILL); err != nil {
			return killed, wrap(err)
		}
		if killed == before {
			return killed, nil
		}
	}
	left := 0
	for _, t := range found {
		if !t.exited() {
			left++
		}
	}
	if left == 0 {
		return killed, wrap(errors.New("marked processes keep appearing"))
	}
	return killed, wrap(fmt.Errorf("%d processes survive SIGKILL", left))
}
