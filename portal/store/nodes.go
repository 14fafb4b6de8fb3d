package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// NodeRetention is how long Sweep keeps the heartbeat of a node that has
// stopped beating: far longer than any call or session lasts.
const NodeRetention = time.Hour

// Beat implements Store.
func (s *DB) Beat(ctx context.Context, node string, now time.Time) error {
	defer s.observe("beat", time.Now())
	if node == "" {
		return fmt.Errorf("%w: heartbeat needs a node", ErrInvalid)
	}
	_, err := s.db.ExecContext(ctx, s.d.q(`INSERT INTO nodes (id, seen_us) VALUES (?, ?)
		ON CONFLICT (id) DO UPDATE SET seen_us = excluded.seen_us`), node, us(now))
	if err != nil {
		return fmt.Errorf("store: beat: %w", err)
	}
	return nil
}

// NodeSeen implements Store.
func (s *DB) NodeSeen(ctx context.Context, node string) (time.Time, error) {
	defer s.observe("node_seen", time.Now())
	var seen int64
	err := s.db.QueryRowContext(ctx, s.d.q(`SELECT seen_us FROM nodes WHERE id = ?`), node).Scan(&seen)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("node: %w", ErrNotFound)
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("store: node seen: %w", err)
	}
	return fromUS(seen), nil
}

// sweepNodes deletes, in tx, the heartbeats older than NodeRetention at now.
func (s *DB) sweepNodes(ctx context.Context, tx *sql.Tx, now time.Time) error {
	if _, err := tx.ExecContext(ctx, s.d.q(`DELETE FROM nodes WHERE seen_us <= ?`), us(now.Add(-NodeRetention))); err != nil {
		return fmt.Errorf("store: sweep: %w", err)
	}
	return nil
}
