package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/store/pgtest"
)

// BenchmarkSessionOps times, one at a time, the session operations the
// portal makes on nearly every step of a journey: a read (with the
// session's gates), a compare-and-set save, and a gate's record, on
// SQLite and on a local PostgreSQL. On PostgreSQL each is one statement,
// so its time is about one round trip; under load, round trips are what
// waits for a busy server (docs/scaling.md).
//
//	go test -run '^$' -bench SessionOps ./portal/store/
func BenchmarkSessionOps(b *testing.B) {
	backends := []struct {
		name string
		open func(b *testing.B) store.Store
	}{
		{"sqlite", func(b *testing.B) store.Store { return openSQLite(b) }},
		{"postgres", func(b *testing.B) store.Store { return openPostgres(b, pgtest.Start(b).NewDatabase(b)) }},
	}
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := be.open(b)
			ctx := context.Background()
			now := time.Now()
			ses, err := s.NewSession(ctx, store.NewSession{Kind: store.KindReset, Username: "alice", Binding: "b"}, now)
			if err != nil {
				b.Fatal(err)
			}
			// Two gates recorded, as a session at the password form has.
			for g := range 2 {
				if err := s.RecordGate(ctx, ses.ID, g, "passed", now); err != nil {
					b.Fatal(err)
				}
			}
			data := []byte(`{"call":{"gate":0,"mode":"match","attempt":1,"running":true,"step":"waiting"}}`)
			b.Run("session", func(b *testing.B) {
				for b.Loop() {
					got, err := s.Session(ctx, ses.ID, now)
					if err != nil || len(got.Gates) != 2 {
						b.Fatalf("Session: %d gates, %v", len(got.Gates), err)
					}
				}
			})
			b.Run("save_data", func(b *testing.B) {
				got, err := s.Session(ctx, ses.ID, now)
				if err != nil {
					b.Fatal(err)
				}
				v := got.Version
				for b.Loop() {
					if v, err = s.SaveData(ctx, ses.ID, v, data, now); err != nil {
						b.Fatalf("SaveData: %v", err)
					}
				}
			})
			b.Run("record_gate", func(b *testing.B) {
				for b.Loop() {
					if err := s.RecordGate(ctx, ses.ID, 1, "passed", now); err != nil {
						b.Fatalf("RecordGate: %v", err)
					}
				}
			})
		})
	}
}
