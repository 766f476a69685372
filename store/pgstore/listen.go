package pgstore

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// The listener's reconnection backoff: it doubles from the first to the last.
const (
	listenBackoffMin = 100 * time.Millisecond
	listenBackoffMax = 5 * time.Second
)

// listenConn opens the listener's connection and LISTENs on the event channel.
func (s *Store) listenConn(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `LISTEN `+eventChannel); err != nil {
		conn.Close(context.WithoutCancel(ctx))
		return nil, err
	}
	s.listenPID.Store(conn.PgConn().PID())
	return conn, nil
}

// listen calls s.committed for every notification on conn, until ctx ends. When the connection
// fails it reconnects, with backoff, and then calls s.committed once: whatever was notified while
// it was away is lost, so followers must look for themselves.
func (s *Store) listen(ctx context.Context, cfg *pgx.ConnConfig, conn *pgx.Conn) {
	defer s.done.Done()
	for {
		err := s.relay(ctx, conn)
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return
		}
		s.log.Warn("the event listener lost its connection; reconnecting", "dsn", s.dsn, "err", err)
		if conn = s.reconnect(ctx, cfg); conn == nil {
			return // closed meanwhile
		}
		s.reconnects.Add(1)
		s.log.Info("the event listener reconnected", "dsn", s.dsn)
		s.committed()
	}
}

// relay calls s.committed for each notification until the connection or ctx fails.
func (s *Store) relay(ctx context.Context, conn *pgx.Conn) error {
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return err
		}
		s.committed()
	}
}

// reconnect tries to listen again until it succeeds (the new connection) or ctx ends (nil).
func (s *Store) reconnect(ctx context.Context, cfg *pgx.ConnConfig) *pgx.Conn {
	backoff := listenBackoffMin
	t := time.NewTimer(backoff)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		conn, err := s.listenConn(cctx, cfg)
		cancel()
		if err == nil {
			return conn
		}
		backoff = min(2*backoff, listenBackoffMax)
		s.log.Warn("the event listener cannot reconnect", "dsn", s.dsn, "retry_in", backoff, "err", err)
		t.Reset(backoff)
	}
}
