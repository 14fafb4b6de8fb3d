package main

import (
	"log/slog"
	"os"
	"testing"

	"github.com/sspr-project/sspr/sip"
)

func TestMain(m *testing.M) {
	// As main does, but quieter: the tests read their own output.
	sip.SetLibraryLogger(slog.New(slog.DiscardHandler))
	os.Exit(m.Run())
}
