package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
)

// progressChannel is the PostgreSQL notification channel of progress events.
// Its payload is the session ID, a space, and the event in base64.
const progressChannel = "sspr_progress"

// maxOpenConns bounds a node's connections to PostgreSQL.
const maxOpenConns = 16

// maxNotifyPayload is PostgreSQL's limit on a notification's payload.
const maxNotifyPayload = 7999

// OpenPostgres connects to the PostgreSQL database at dsn (a URL or
// key=value string, as pgx reads it), runs the migrations, and starts
// listening for the progress events any node publishes.
func OpenPostgres(ctx context.Context, dsn string) (*DB, error) {
	if dsn == "" {
		return nil, fmt.Errorf("%w: PostgreSQL needs a DSN", ErrInvalid)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open PostgreSQL: %w", err)
	}
	// A bounded pool: under load, requests queue for a connection rather
	// than open hundreds and hit the server's max_connections (100 by
	// default, shared by every node). The LISTEN connection is apart.
	db.SetMaxOpenConns(maxOpenConns)
	db.SetMaxIdleConns(maxOpenConns)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open PostgreSQL: %w", err)
	}
	s := &DB{db: db, d: postgresDialect, hub: newHub()}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	l, err := listen(ctx, dsn, s.hub)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	s.stop = l.stop
	s.publish = func(ctx context.Context, sessionID string, event []byte) error {
		if strings.ContainsRune(sessionID, ' ') {
			return fmt.Errorf("%w: session ID with a space", ErrInvalid)
		}
		payload := sessionID + " " + base64.StdEncoding.EncodeToString(event)
		if len(payload) > maxNotifyPayload {
			return fmt.Errorf("%w: progress event of %d bytes is too big", ErrInvalid, len(event))
		}
		if _, err := db.ExecContext(ctx, `SELECT pg_notify($1, $2)`, progressChannel, payload); err != nil {
			return fmt.Errorf("store: publish: %w", err)
		}
		return nil
	}
	return s, nil
}

// listener holds one connection that LISTENs for progress events and
// hands them to the hub, reconnecting when the connection is lost.
type listener struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// listen connects and LISTENs before it returns, so that a subscriber that
// registers afterwards misses nothing published afterwards.
func listen(ctx context.Context, dsn string, h *hub) (*listener, error) {
	conn, err := connectListen(ctx, dsn)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	l := &listener{cancel: cancel}
	l.wg.Go(func() { l.run(runCtx, dsn, conn, h) })
	return l, nil
}

func connectListen(ctx context.Context, dsn string) (*pgx.Conn, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("store: listen: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+progressChannel); err != nil {
		_ = conn.Close(ctx)
		return nil, fmt.Errorf("store: listen: %w", err)
	}
	return conn, nil
}

func (l *listener) run(ctx context.Context, dsn string, conn *pgx.Conn, h *hub) {
	backoff := 100 * time.Millisecond
	for {
		for conn != nil {
			n, err := conn.WaitForNotification(ctx)
			if err != nil {
				closeCtx, done := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				_ = conn.Close(closeCtx)
				done()
				conn = nil
				break
			}
			backoff = 100 * time.Millisecond
			id, enc, ok := strings.Cut(n.Payload, " ")
			if !ok {
				continue
			}
			event, err := base64.StdEncoding.DecodeString(enc)
			if err != nil {
				continue
			}
			h.deliver(id, event)
		}
		if ctx.Err() != nil {
			return
		}
		// The connection is lost: events published until it is back are lost too.
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
		c, err := connectListen(ctx, dsn)
		if err != nil && !errors.Is(err, context.Canceled) {
			continue
		}
		conn = c
	}
}

func (l *listener) stop() {
	l.cancel()
	l.wg.Wait()
}
