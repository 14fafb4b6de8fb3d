package siptest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sspr-project/sspr/dtmf"
)

func TestKamailio(t *testing.T) {
	t.Parallel()
	dtmfUAS := SIPp(t, UAS{Mode: DTMF, Digits: "1234#", Delay: testDelay, Gap: testGap})
	infoUAS := SIPp(t, UAS{Mode: Info, Digits: "42", Delay: testDelay, Gap: testGap})
	t0 := time.Now()
	k := Kamailio(t, KamailioConfig{
		Users:  map[string]string{"trunkuser": "Trunk-Secret-1", "alice": "Alice-Secret-1"},
		Routes: map[string]string{"dtmf": dtmfUAS.URI, "info": infoUAS.URI},
	})
	t.Logf("Kamailio ready in %v at %s", time.Since(t0).Round(time.Millisecond), k.Addr)

	t.Run("register", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := newCaller(t, k.Addr, "alice")
		if r := c.register(ctx, k.Addr, "Alice-Secret-1"); r.code != 200 {
			t.Errorf("REGISTER with the right password: %d %s", r.code, r.reason)
		}
		if !strings.Contains(k.Log(), "challenging REGISTER") {
			t.Error("REGISTER was not challenged first")
		}
		c = newCaller(t, k.Addr, "alice")
		if r := c.register(ctx, k.Addr, "wrong"); r.code != 403 {
			t.Errorf("REGISTER with a wrong password: %d %s, want 403", r.code, r.reason)
		}
	})
	t.Run("invite needs auth", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c := newCaller(t, k.Addr, "trunkuser")
		r, _ := c.call(ctx, k.TrunkURI("dtmf"), c.offer(0, 101), "", "")
		if r.code != 407 || !strings.Contains(r.header("Proxy-Authenticate"), `realm="`+Realm+`"`) {
			t.Errorf("unauthenticated INVITE: %d %s %q, want 407 with realm %s", r.code, r.reason, r.header("Proxy-Authenticate"), Realm)
		}
		c = newCaller(t, k.Addr, "trunkuser")
		if r, _ := c.call(ctx, k.TrunkURI("dtmf"), c.offer(0, 101), "trunkuser", "wrong"); r.code != 403 {
			t.Errorf("wrong password: %d %s, want 403", r.code, r.reason)
		}
		c = newCaller(t, k.Addr, "mallory")
		if r, _ := c.call(ctx, k.TrunkURI("dtmf"), c.offer(0, 101), "trunkuser", "Trunk-Secret-1"); r.code != 403 {
			t.Errorf("From user other than the auth user: %d %s, want 403", r.code, r.reason)
		}
		c = newCaller(t, k.Addr, "trunkuser")
		if r, _ := c.call(ctx, k.TrunkURI("nobody"), c.offer(0, 101), "trunkuser", "Trunk-Secret-1"); r.code != 404 {
			t.Errorf("unrouted user: %d %s, want 404", r.code, r.reason)
		}
	})
	t.Run("call through the trunk", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c := newCaller(t, k.Addr, "trunkuser")
		ans, _ := answered(ctx, t, c, k.TrunkURI("dtmf"), []int{0, 101}, "trunkuser", "Trunk-Secret-1")
		if len(c.routes) != 1 || !strings.Contains(c.routes[0], k.Addr) {
			t.Errorf("route set %q, want Kamailio's Record-Route", c.routes)
		}
		telephoneEvents(ctx, t, dtmfUAS, c, ans, 0, 101) // BYE goes through the proxy
		wantCalls(ctx, t, dtmfUAS, 1)
	})
	t.Run("INFO through the trunk", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		c := newCaller(t, k.Addr, "alice")
		answered(ctx, t, c, k.TrunkURI("info"), []int{0, 101}, "alice", "Alice-Secret-1")
		var keys []byte
		for len(keys) < len(infoUAS.Digits) {
			select {
			case m := <-c.requests:
				in, err := dtmf.ParseInfo(m.header("Content-Type"), m.body)
				if m.method != "INFO" || err != nil {
					t.Fatalf("%s from the callee: %v", m.method, err)
				}
				if !strings.Contains(m.header("Via"), k.Addr) {
					t.Errorf("INFO did not come through Kamailio: Via %q", m.header("Via"))
				}
				keys = append(keys, in.Key)
			case <-ctx.Done():
				t.Fatalf("INFO keys %q, want %q", keys, infoUAS.Digits)
			}
		}
		c.bye(ctx)
		wantCalls(ctx, t, infoUAS, 1)
	})
}

func TestKamailioRechallenge(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	k := Kamailio(t, KamailioConfig{Rechallenge: true})
	c := newCaller(t, k.Addr, DefaultTrunkUser)
	if r := c.register(ctx, k.Addr, "wrong"); r.code != 401 {
		t.Errorf("REGISTER with a wrong password: %d %s, want a new 401", r.code, r.reason)
	}
	c = newCaller(t, k.Addr, DefaultTrunkUser)
	if r := c.register(ctx, k.Addr, DefaultTrunkPassword); r.code != 200 {
		t.Errorf("REGISTER with the default user: %d %s", r.code, r.reason)
	}
}
