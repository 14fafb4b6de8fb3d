package siptest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// BlockSize is how many consecutive ports PortBlock reserves.
const BlockSize = 20

// The reserved blocks lie in [portFirst, portLast], below Linux's default
// ephemeral range (32768-60999, where port-0 sockets land) and clear of the
// fixed ports of shared/testbed (5060-5093, 4444, 16000-16599, 18000).
const (
	portFirst = 20000
	portLast  = 31999
	numBlocks = (portLast - portFirst + 1) / BlockSize
)

// lockDir is where the lock file of each block lives; it is shared by every
// test binary on the machine, so that the packages go test runs in parallel
// do not pick the same block.
var lockDir = filepath.Join(os.TempDir(), "sspr-siptest-ports")

// PortBlock reserves BlockSize consecutive ports on 127.0.0.1 for the rest
// of the test and returns the first. Every port of the block was free for
// both UDP and TCP when it was chosen, and no other test, in this process or
// another, gets the block until the test's cleanups release it. Tests that
// need a fixed port of their own (a SIP agent's listener, an RTP range) can
// take a block too.
//
// The reservation is cooperative: a lock file per block in a shared
// temporary directory. Programs that bind fixed ports between 20000 and
// 31999 are not aware of it, and neither is a machine whose ephemeral port
// range was moved below 32000.
func PortBlock(t testing.TB) int {
	t.Helper()
	base, f, err := reserveBlock()
	if err != nil {
		t.Fatalf("siptest: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return base
}

// reserveBlock finds a free block, starting at a random one so that
// concurrent callers rarely contend, and returns it with its locked file.
func reserveBlock() (int, *os.File, error) {
	if err := os.MkdirAll(lockDir, 0o777); err != nil {
		return 0, nil, fmt.Errorf("port lock directory: %w", err)
	}
	// Other users' tests share the directory.
	_ = os.Chmod(lockDir, 0o1777)
	start := rand.IntN(numBlocks)
	for i := range numBlocks {
		base := portFirst + (start+i)%numBlocks*BlockSize
		f, err := os.OpenFile(filepath.Join(lockDir, strconv.Itoa(base)+".lock"), os.O_RDWR|os.O_CREATE, 0o666)
		if err != nil {
			continue
		}
		if lock(f) != nil || !blockFree(base) {
			f.Close()
			continue
		}
		return base, f, nil
	}
	return 0, nil, errors.New("no free block of loopback ports between 20000 and 31999")
}

// blockFree reports whether every port of the block can be bound on
// 127.0.0.1 for UDP and for TCP.
func blockFree(base int) bool {
	for p := base; p < base+BlockSize; p++ {
		addr := net.JoinHostPort(loopback, strconv.Itoa(p))
		u, err := net.ListenPacket("udp4", addr)
		if err != nil {
			return false
		}
		u.Close()
		l, err := net.Listen("tcp4", addr)
		if err != nil {
			return false
		}
		l.Close()
	}
	return true
}
