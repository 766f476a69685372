// Package pgstore is the store.Store of a multi-node arbiter: every node's daemon opens the same
// PostgreSQL database (`arbiter daemon --store postgres://…`), through a pgx connection pool. It
// passes the same conformance suite as store/sqlitestore (store/storetest), and keeps its
// semantics; this comment is about what Postgres made different.
//
// # Schema and migrations
//
// migrations/NNN_name.sql, numbered from 001 without gaps, the first being the Postgres
// equivalent of the root schema.sql (a test compares the two). The table schema_migrations
// (version, name, applied_at) records each applied migration. Open migrates on a connection of
// its own that holds the session advisory lock migrateLockKey for the whole migration, so nodes
// starting together migrate once, one after the other; each migration runs in its own
// transaction with its row in schema_migrations. A database whose version is newer than this
// binary knows is refused: an older node must not write a schema it does not understand.
//
// # Times
//
// Every instant is a bigint of unix nanoseconds UTC, as in SQLite: timestamptz keeps only
// microseconds, and arbiter compares fire times (runs_fire) and rotation versions (a secret's
// updated_at) to the nanosecond. Durations are bigint nanoseconds too.
//
// # The event log and its order
//
// Followers of the event log (`arbiter events -f`, `logs -f`, the dashboard) read it by id:
// "events with id > the last I saw". In SQLite one writer makes ids commit in order. In
// Postgres, ids come from a sequence when a row is inserted, and transactions on several nodes
// commit in any order: a transaction holding id 7 could commit after one holding id 8, and a
// follower that had already read 8 would skip 7 forever. So every transaction that records
// events takes the transaction advisory lock eventLockKey right before inserting them, and holds
// it until it commits: from its first event insert to its commit, nobody else inserts events,
// and ids become visible in id order. Operations collect their events as they go and write them
// last: the lock, the inserts, NOTIFY and COMMIT go as one pipelined batch, so the lock is held
// only while the server runs that batch, not for the operation's own work, and never while the
// server waits for the node (a node that freezes cannot hold up the others' events). A run's
// start and end, the writes a worker makes per run, are one statement each (changeRunSQL): the
// change, the lock, the event and NOTIFY, committed at once. The lock is always the last one a
// transaction takes, so it cannot be part of a deadlock cycle.
//
// # Advisory lock keys
//
// The keys are 64-bit: the ASCII bytes of "arbiter" followed by one byte, so they are unlikely
// to collide with another application's locks in the same database.
//
//	migrateLockKey  0x6172626974657201  session lock, held by Open while it migrates
//	eventLockKey    0x6172626974657202  transaction lock, held from the first event insert to commit
//	schedulerLockKey 0x6172626974657203 session lock, held by the node that fires the schedules
//
// # The cluster
//
// The scheduler's lock (SchedulerLock) is held on a connection of its own for as long as the node
// leads; when that session ends, Postgres releases the lock and a standby takes it. That session,
// named by its backend's pid and start, is the leader's term. A fire that carries the term
// (FireInsertParams.Term) is inserted only if the term's session still holds the lock, checked in
// the insert's own statement against pg_locks: a leader that froze after deciding to fire, and
// resumed after a standby took over, records nothing (store.ErrNotLeader) that the new leader may
// have accounted for already. Workers claim queued runs with one statement that picks them FOR
// UPDATE SKIP LOCKED and moves them to running, so claimers on several nodes take disjoint batches
// without waiting for each other. A claim records no event, and so does not take the event lock:
// the run's start records run.running, with its pid, once the worker has started the process.
// Heartbeats (table nodes) record no event either: they would drown the log.
//
// # Change notification
//
// Each transaction that records events also sends a notification on the channel arbiter_events
// (pg_notify, with an empty payload) before it commits; Postgres delivers it at commit, to every
// listening session of every node. When Options.Committed is set, Open starts a listener on a
// connection of its own that LISTENs on that channel and calls Committed for each notification:
// followers on any node wake when any node writes. When its connection drops, the listener reconnects with backoff and then
// calls Committed once, since notifications sent meanwhile were lost. Writes that record no
// event (run output) send none: nothing in the event log changed.
//
// # Nodes that go silent
//
// A node that froze (a stopped process, a suspended VM) or that the network cut off keeps its
// sockets, so the server would keep its sessions, with their locks, until TCP gave up on them,
// hours later. The scheduler lock's session ends after 10 s without a ping (idle_session_timeout,
// PostgreSQL 14 and later; TCP keepalives on older servers), and every session of the pool ends a
// transaction left idle for as long (idle_in_transaction_session_timeout).
//
// # Errors and retries
//
// unique_violation maps to arbiter.ErrConflict, a missing row to arbiter.ErrNotFound, a check,
// not-null or data exception (text Postgres cannot store: a NUL byte, invalid UTF-8) to
// arbiter.ErrInvalid. Serialization failures and deadlocks are retried a few times with the
// whole operation. Messages that name the database show its DSN with the password masked.
package pgstore
