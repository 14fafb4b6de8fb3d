package sip

import (
	"log/slog"
	"os"
	"testing"

	sipmsg "github.com/emiago/sipgo/sip"
)

func TestMain(m *testing.M) {
	// sipgo's transport and transaction layers log through a package
	// logger of their own; keep it quiet unless asked.
	if os.Getenv("SSPR_TEST_LOG") == "" {
		sipmsg.SetDefaultLogger(slog.New(slog.DiscardHandler))
	}
	os.Exit(m.Run())
}
