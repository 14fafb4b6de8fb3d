package store_test

import (
	"testing"

	"github.com/sspr-project/sspr/portal/store"
	"github.com/sspr-project/sspr/portal/store/pgtest"
	"github.com/sspr-project/sspr/portal/store/storetest"
)

func openPostgres(t testing.TB, dsn string) *store.DB {
	t.Helper()
	s, err := store.OpenPostgres(t.Context(), dsn)
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	t.Run("Conformance", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) store.Store { return openPostgres(t, srv.NewDatabase(t)) })
	})
	t.Run("Peers", func(t *testing.T) {
		storetest.RunPeers(t, func(t *testing.T) (store.Store, store.Store) {
			dsn := srv.NewDatabase(t)
			return openPostgres(t, dsn), openPostgres(t, dsn)
		})
	})
}
