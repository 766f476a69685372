package store

import (
	"fmt"

	"github.com/arbiterd/arbiter"
)

// What every store checks and writes the same way, so that the stores agree to the letter: the
// conformance suite compares their errors' kinds and their events' texts.

// RunEventDetail is the short human text of the event a store records when run r (as it is
// after the change) enters its state.
func RunEventDetail(r arbiter.Run) string {
	switch {
	case r.Reason != "":
		return r.Reason
	case r.Signal != "":
		return "killed by " + r.Signal
	case r.ExitCode != nil:
		return fmt.Sprintf("exit code %d", *r.ExitCode)
	case r.State == arbiter.StateRunning:
		return fmt.Sprintf("pid %d on %s", r.PID, r.Worker)
	}
	return ""
}

// ValidateFire checks what a fire record may carry, before a store starts its transaction.
func ValidateFire(p FireInsertParams) error {
	if !p.Trigger.Scheduled() {
		return arbiter.Invalidf("trigger", "%q is not a scheduled trigger", p.Trigger)
	}
	switch p.State {
	case arbiter.StateQueued, arbiter.StateSkipped, arbiter.StateMissed:
	default:
		return arbiter.Invalidf("state", "a fire is born queued, skipped or missed, not %q", p.State)
	}
	if p.Jitter < 0 {
		return arbiter.Invalidf("jitter", "must not be negative")
	}
	if p.State != arbiter.StateMissed {
		if p.MissedCount != 0 || !p.MissedUntil.IsZero() {
			return arbiter.Invalidf("missed_count", "only a missed record counts missed fires, not a %s one", p.State)
		}
		return nil
	}
	// A missed record stands for MissedCount distinct fire times, ScheduledAt the first and
	// MissedUntil the last; distinct fires of one job are distinct instants (runs_fire).
	switch {
	case p.MissedCount < 1:
		return arbiter.Invalidf("missed_count", "a missed record stands for at least 1 fire, not %d", p.MissedCount)
	case p.MissedUntil.IsZero() || p.MissedUntil.Before(p.ScheduledAt):
		return arbiter.Invalidf("missed_until", "the last missed fire %s is before the first %s", p.MissedUntil, p.ScheduledAt)
	case p.MissedCount == 1 && !p.MissedUntil.Equal(p.ScheduledAt):
		return arbiter.Invalidf("missed_until", "one missed fire must end where it starts, at %s", p.ScheduledAt)
	case p.MissedCount > 1 && p.MissedUntil.Equal(p.ScheduledAt):
		return arbiter.Invalidf("missed_until", "%d missed fires cannot all be at %s", p.MissedCount, p.ScheduledAt)
	}
	return nil
}

// ValidateRunInsert checks the trigger, attempt and retry link, before a store starts its
// transaction.
func ValidateRunInsert(p RunInsertParams) error {
	switch p.Trigger {
	case arbiter.TriggerManual:
		if p.RetryOf != 0 {
			return arbiter.Invalidf("retry_of", "a manual run is no retry; use trigger %q", arbiter.TriggerRetry)
		}
	case arbiter.TriggerRetry:
		if p.RetryOf <= 0 {
			return arbiter.Invalidf("retry_of", "a retry names its first attempt's run id, not %d", p.RetryOf)
		}
		if p.Attempt < 2 {
			return arbiter.Invalidf("attempt", "a retry is attempt 2 or later, not %d", p.Attempt)
		}
	default:
		return arbiter.Invalidf("trigger", "%q is not manual or retry; scheduled fires go through InsertFire", p.Trigger)
	}
	return nil
}

// ValidateSecret checks what a sealed secret must carry. The store never sees a plaintext, so
// this is about shape only: the crypto is the caller's (internal/secretbox).
func ValidateSecret(sec arbiter.Secret) error {
	if err := arbiter.ValidateName(sec.Name); err != nil {
		return err
	}
	switch {
	case sec.KeyID == "":
		return arbiter.Invalidf("key_id", "secret %q: must not be empty", sec.Name)
	case len(sec.Nonce) == 0:
		return arbiter.Invalidf("nonce", "secret %q: must not be empty", sec.Name)
	case len(sec.Ciphertext) == 0: // AES-GCM output always carries its 16-byte tag
		return arbiter.Invalidf("ciphertext", "secret %q: must not be empty", sec.Name)
	case sec.Size < 0:
		return arbiter.Invalidf("size", "secret %q: must not be negative, not %d", sec.Name, sec.Size)
	}
	return nil
}

// ValidateNode checks a node's heartbeat before a store records it.
func ValidateNode(n arbiter.Node) error {
	if err := arbiter.ValidateNodeName(n.Name); err != nil {
		return err
	}
	if n.ID == "" {
		return arbiter.Invalidf("id", "a node has an id")
	}
	if len(n.Roles) == 0 {
		return arbiter.Invalidf("roles", "a node has at least one role")
	}
	if n.SeenAt.IsZero() || n.LeaseUntil.Before(n.SeenAt) {
		return arbiter.Invalidf("lease_until", "the lease must not end before the heartbeat")
	}
	return nil
}
