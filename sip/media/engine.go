package media

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
)

// Engine owns the RTP port pool, the metrics and the shared pacer of every
// session it opens. It is safe for concurrent use. An Engine needs no
// Close: its pacer goroutines run only while some session is playing.
type Engine struct {
	cfg    config
	m      *metrics
	pacers []*pacer // shards of the shared pacer, one per GOMAXPROCS

	mu    sync.Mutex
	inUse []bool // by (port-portMin)/2
	next  int    // where the next search for a free port starts
}

// NewEngine validates cfg and registers the engine's metrics on reg (a nil
// reg registers nothing). It opens no socket.
func NewEngine(cfg Config, reg prometheus.Registerer) (*Engine, error) {
	c, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	m, err := newMetrics(reg)
	if err != nil {
		return nil, err
	}
	return &Engine{
		cfg:    c,
		m:      m,
		pacers: newPacers(runtime.GOMAXPROCS(0)),
		inUse:  make([]bool, (c.portMax-c.portMin)/2+1),
	}, nil
}

// Open binds a UDP socket on a free even port of the range and returns a
// session on it. Ports are tried in a rotating order, so a port just
// released is the last to be reused; ports held by other processes are
// skipped. It returns ErrNoPorts when every port is taken, and any other
// bind error (a BindIP that is not local, a privileged port) as it is.
func (e *Engine) Open() (*Session, error) {
	for range len(e.inUse) {
		port, ok := e.reserve()
		if !ok {
			break
		}
		conn, err := e.listen(port)
		if err == nil {
			return newSession(e, conn, port), nil
		}
		e.release(port)
		if !errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("media: binding RTP port: %w", err)
		}
	}
	return nil, ErrNoPorts
}

// reserve marks the next free port of the rotation as used.
func (e *Engine) reserve() (int, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := len(e.inUse)
	for i := range n {
		j := (e.next + i) % n
		if !e.inUse[j] {
			e.inUse[j] = true
			e.next = (j + 1) % n
			return e.cfg.portMin + 2*j, true
		}
	}
	return 0, false
}

// release returns port to the pool.
func (e *Engine) release(port int) {
	e.mu.Lock()
	e.inUse[(port-e.cfg.portMin)/2] = false
	e.mu.Unlock()
}

// listen binds a UDP socket on BindIP:port, IPv4 or IPv6 as BindIP is.
func (e *Engine) listen(port int) (*net.UDPConn, error) {
	network := "udp4"
	if e.cfg.bind.Is6() {
		network = "udp6"
	}
	return net.ListenUDP(network, net.UDPAddrFromAddrPort(netip.AddrPortFrom(e.cfg.bind, uint16(port))))
}
