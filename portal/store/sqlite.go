package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"

	_ "modernc.org/sqlite" // registers the "sqlite" driver: pure Go, no cgo
)

// OpenSQLite opens (creating it if needed) the SQLite database in the file
// at path and runs the migrations. Progress events reach subscribers of
// this process only: one SQLite file serves one node.
func OpenSQLite(ctx context.Context, path string) (*DB, error) {
	if path == "" {
		return nil, fmt.Errorf("%w: SQLite needs a file path", ErrInvalid)
	}
	dsn := (&url.URL{Scheme: "file", Path: path}).String() +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: open SQLite: %w", err)
	}
	// One connection: SQLite writes one at a time anyway, and this makes
	// every transaction serialisable without SQLITE_BUSY between our own
	// connections.
	db.SetMaxOpenConns(1)
	s := &DB{db: db, d: sqliteDialect, hub: newHub()}
	if err := db.PingContext(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("store: open SQLite: %w", err)
	}
	if err := s.migrate(ctx); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}
