package store

import (
	"context"
	"fmt"
	"sync"
)

// subscriberBuffer is how many events a subscriber may fall behind by
// before it loses events.
const subscriberBuffer = 64

// hub delivers progress events to this node's subscribers.
type hub struct {
	mu     sync.Mutex
	subs   map[string]map[*subscriber]struct{}
	closed bool
}

type subscriber struct {
	ch   chan []byte
	once sync.Once
}

func newHub() *hub { return &hub{subs: map[string]map[*subscriber]struct{}{}} }

// subscribe registers a subscriber for sessionID; it is in place when
// subscribe returns, so no later event is missed.
func (h *hub) subscribe(ctx context.Context, sessionID string) (<-chan []byte, func(), error) {
	sub := &subscriber{ch: make(chan []byte, subscriberBuffer)}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, nil, fmt.Errorf("store: subscribe: store closed")
	}
	if h.subs[sessionID] == nil {
		h.subs[sessionID] = map[*subscriber]struct{}{}
	}
	h.subs[sessionID][sub] = struct{}{}
	h.mu.Unlock()

	cancel := func() {
		sub.once.Do(func() {
			h.mu.Lock()
			delete(h.subs[sessionID], sub)
			if len(h.subs[sessionID]) == 0 {
				delete(h.subs, sessionID)
			}
			close(sub.ch)
			h.mu.Unlock()
		})
	}
	stop := context.AfterFunc(ctx, cancel)
	return sub.ch, func() { stop(); cancel() }, nil
}

// deliver hands event to every subscriber of sessionID without blocking:
// a subscriber whose buffer is full loses the event.
func (h *hub) deliver(sessionID string, event []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub := range h.subs[sessionID] {
		e := append([]byte(nil), event...)
		select {
		case sub.ch <- e:
		default:
		}
	}
}

// close ends every subscription.
func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	var all []*subscriber
	for _, subs := range h.subs {
		for sub := range subs {
			all = append(all, sub)
		}
	}
	h.subs = map[string]map[*subscriber]struct{}{}
	h.mu.Unlock()
	for _, sub := range all {
		sub.once.Do(func() { close(sub.ch) })
	}
}
