// Package arbiter holds the domain of the arbiter job scheduler: jobs, runs and their states,
// schedules with their time-zone maths, and the sentinel errors every layer shares.
//
// A run moves through these states; the ones on the right are terminal:
//
//	queued ──▶ running ──▶ succeeded | failed | timed_out | cancelled | lost
//	   │
//	   └──▶ cancelled            (cancelled before it started)
//
//	skipped, missed              (records of fires that never ran, terminal from birth)
//
// Every scheduled fire is accounted for: it became a run, or a skipped or missed record that
// says why.
package arbiter
