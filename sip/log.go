package sip

import (
	"log/slog"

	sipmsg "github.com/emiago/sipgo/sip"
)

// SetLibraryLogger sends the log of sipgo's transport and transaction
// layers, which log through a package-wide logger of their own, to log.
// Call it once, at start-up, from main.
func SetLibraryLogger(log *slog.Logger) {
	sipmsg.SetDefaultLogger(log)
}
