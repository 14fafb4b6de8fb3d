package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal"
	"github.com/sspr-project/sspr/sip"
)

// HTTP server timeouts of the portal. There is no write timeout: the
// phone gate's page streams server-sent events for as long as a call.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 2 * time.Minute
	// openTimeout bounds opening the store and starting the SIP agent.
	openTimeout = 30 * time.Second
	// adminShutdown bounds the admin listener's shutdown.
	adminShutdown = 5 * time.Second
)

func runServe(ctx context.Context, e *env, args []string) int {
	flags := newFlagSet("serve", "--config FILE [flags]", `
Serve the portal: the registration, reset and unlock pages, with the
directory, the store, the SIP trunks and the verification calls of the
configuration file. It prints "sspr: portal listening on URL" once it
accepts requests.

On SIGINT or SIGTERM it stops starting new journeys, stops accepting
connections, lets the calls in progress end (within --drain-timeout), and
exits 0.`)
	configFile := flags.String("config", "", "sspr configuration file (YAML) (required)")
	admin := flags.String("admin", "", "address of the admin listener serving /metrics, /healthz and /readyz (default: none)")
	logFormat := flags.String("log-format", "text", "log format on standard error: text or json")
	logLevel := flags.String("log-level", "info", "least level logged: debug, info, warn or error")
	drain := flags.Duration("drain-timeout", 30*time.Second, "how long to wait on shutdown for requests and calls in progress")
	operands, status, ok := flags.parse(e, args)
	if !ok {
		return status
	}
	var level slog.Level
	switch {
	case len(operands) != 0:
		return flags.usageError(e, "unexpected argument %q", operands[0])
	case *configFile == "":
		return flags.usageError(e, "--config is required")
	case *logFormat != "text" && *logFormat != "json":
		return flags.usageError(e, "--log-format %q: want text or json", *logFormat)
	case level.UnmarshalText([]byte(*logLevel)) != nil:
		return flags.usageError(e, "--log-level %q: want debug, info, warn or error", *logLevel)
	case *drain <= 0:
		return flags.usageError(e, "--drain-timeout %v: must be positive", *drain)
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(e.stderr, opts)
	if *logFormat == "json" {
		h = slog.NewJSONHandler(e.stderr, opts)
	}
	log := slog.New(h)

	sc, err := loadServeConfig(*configFile)
	if err != nil {
		fmt.Fprintf(e.stderr, "sspr serve: --config %s: %v\n", *configFile, err)
		return exitUsage
	}
	if err := serve(ctx, e, log, sc, *admin, *drain); err != nil {
		log.Error("sspr serve failed", "err", err)
		fmt.Fprintf(e.stderr, "sspr serve: %v\n", err)
		return exitFail
	}
	return exitOK
}

// serveConfig is the configuration file, checked and converted.
type serveConfig struct {
	file      *fileConfig
	agent     sip.Config
	prompts   *ivr.Prompts
	portal    *portalSettings
	openStore storeOpener
	// path is the configuration file's, which SIGHUP reloads.
	path string
	// wrap, when set, wraps the portal's handler (the demo adds its
	// virtual phone's pages).
	wrap func(http.Handler) http.Handler
}

// loadServeConfig reads the configuration file and checks every section
// serve uses, so that a mistake is reported before anything starts.
func loadServeConfig(name string) (*serveConfig, error) {
	fc, err := loadConfig(name)
	if err != nil {
		return nil, err
	}
	sc := &serveConfig{file: fc, path: name}
	var errs []error
	if sc.agent, err = fc.SIP.agentConfig(); err != nil {
		errs = append(errs, err)
	}
	if len(sc.agent.Trunks) == 0 {
		errs = append(errs, errors.New("sip.trunks: at least one trunk is required"))
	}
	if sc.prompts, err = loadPrompts(fc.IVR.Prompts); err != nil {
		errs = append(errs, fmt.Errorf("ivr.prompts: %w", err))
	}
	if sc.portal, err = fc.Portal.settings(); err != nil {
		errs = append(errs, err)
	}
	if sc.openStore, err = fc.Store.opener(); err != nil {
		errs = append(errs, err)
	}
	if fc.Directory.Type == "" {
		errs = append(errs, errors.New("directory.type: required (ad, openldap or embedded)"))
	}
	return sc, errors.Join(errs...)
}

// loadPrompts returns the built-in prompts with the recordings of dir (if
// any) replacing or adding to them.
func loadPrompts(dir string) (*ivr.Prompts, error) {
	p, err := ivr.DefaultPrompts()
	if err == nil && dir != "" {
		p, err = ivr.LoadPrompts(dir, p)
	}
	return p, err
}

// startAgent starts a SIP agent and waits until it is ready. stop ends
// it: its Run, then Close.
func startAgent(ctx context.Context, cfg sip.Config, log *slog.Logger, reg prometheus.Registerer) (a *sip.Agent, stop func(), err error) {
	a, err = sip.New(cfg, log, reg)
	if err != nil {
		return nil, nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- a.Run(runCtx) }()
	stop = func() {
		cancel()
		<-ran
		_ = a.Close()
	}
	select {
	case <-a.Ready():
		return a, stop, nil
	case err := <-ran:
		cancel()
		_ = a.Close()
		if err == nil {
			err = errors.New("sip: the agent stopped before it was ready")
		}
		return nil, nil, err
	case <-ctx.Done():
		stop()
		return nil, nil, ctx.Err()
	}
}

// serve runs the portal until ctx is cancelled, then drains it.
func serve(ctx context.Context, e *env, log *slog.Logger, sc *serveConfig, adminAddr string, drain time.Duration) (err error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Everything opened is closed in reverse order, whatever happens.
	var closers []func()
	defer func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}()

	openCtx, cancelOpen := context.WithTimeout(ctx, openTimeout)
	defer cancelOpen()
	st, err := sc.openStore(openCtx)
	if err != nil {
		return err
	}
	closers = append(closers, func() {
		if err := st.Close(); err != nil {
			log.Warn("closing the store", "err", err)
		}
	})
	if err := st.Instrument(reg); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	dir, closeDir, err := sc.file.Directory.open(log, reg)
	if err != nil {
		return err
	}
	closers = append(closers, closeDir)
	agent, stopAgent, err := startAgent(openCtx, sc.agent, log, reg)
	if err != nil {
		return fmt.Errorf("sip: %w", err)
	}
	closers = append(closers, stopAgent)
	iv, err := ivr.New(ivr.Config{
		Prompts:           sc.prompts,
		FirstKeyTimeout:   sc.file.IVR.FirstKeyTimeout,
		InterDigitTimeout: sc.file.IVR.InterDigitTimeout,
		Logger:            log,
	}, reg)
	if err != nil {
		return fmt.Errorf("ivr: %w", err)
	}
	ver := &callVerifier{agent: agent, ivr: iv, opts: sip.DialOptions{RingTimeout: sc.agent.RingTimeout}, language: sc.file.IVR.Language}
	pcfg := sc.portal.cfg
	if pcfg.DecoyRing == 0 {
		// The call never placed for an unregistered username rings as
		// long as a real one that nobody answers.
		pcfg.DecoyRing = sc.agent.RingTimeout
		if pcfg.DecoyRing == 0 {
			pcfg.DecoyRing = sip.DefaultRingTimeout
		}
	}
	p, err := portal.New(pcfg, portal.Deps{
		Store: st, Directory: dir, Verifier: ver, Catalogue: sc.portal.catalogue,
		Logger: log, Registerer: reg,
	})
	if err != nil {
		return err
	}
	closers = append(closers, func() { _ = p.Close() })
	// SIGHUP reloads the prompts and the workflow.
	closers = append(closers, watchReload(log, sc.path, iv, p))

	var draining atomic.Bool
	var adminSrv *http.Server
	if adminAddr != "" {
		ln, err := net.Listen("tcp", adminAddr)
		if err != nil {
			return fmt.Errorf("--admin: %w", err)
		}
		ready := newReadiness(readyTTL, []readyCheck{
			{"store", st.Ping},
			{"directory", dir.Check},
			{"sip", func(context.Context) error {
				if !agent.Healthy() {
					return fmt.Errorf("no trunk answers OPTIONS (down: %s)", strings.Join(agent.TrunksDown(), ", "))
				}
				return nil
			}},
		})
		adminSrv = &http.Server{Handler: adminHandler(reg, &draining, ready), ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
		go func() { _ = adminSrv.Serve(ln) }()
		closers = append(closers, func() {
			c, cancel := context.WithTimeout(context.Background(), adminShutdown)
			defer cancel()
			if adminSrv.Shutdown(c) != nil {
				_ = adminSrv.Close()
			}
		})
		fmt.Fprintf(e.stdout, "sspr: admin listening on http://%s\n", ln.Addr())
		log.Info("admin listening", "addr", ln.Addr().String())
	}

	ln, err := net.Listen("tcp", sc.portal.listen)
	if err != nil {
		return fmt.Errorf("portal.listen: %w", err)
	}
	// Event streams last as long as the session; on shutdown they are
	// ended once the calls in progress have.
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	srv := &http.Server{
		Handler:           endingStreams(wrapHandler(sc.wrap, p.Handler()), streams),
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	scheme := "http"
	if sc.portal.tlsCert != "" {
		scheme = "https"
		go func() { served <- srv.ServeTLS(ln, sc.portal.tlsCert, sc.portal.tlsKey) }()
	} else {
		go func() { served <- srv.Serve(ln) }()
	}
	fmt.Fprintf(e.stdout, "sspr: portal listening on %s://%s\n", scheme, ln.Addr())
	log.Info("portal listening", "url", scheme+"://"+ln.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down: draining", "timeout", drain)
	case serveErr = <-served:
		log.Error("portal server stopped", "err", serveErr)
	}
	// Drain: no new journeys; requests and calls in progress go on.
	draining.Store(true)
	p.Drain()
	dctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- srv.Shutdown(dctx) }()
	if err := p.Wait(dctx); err != nil {
		log.Warn("calls still in progress at the drain deadline: ending them", "err", err)
	}
	endStreams()
	if err := <-shut; err != nil {
		log.Warn("requests still in progress at the drain deadline", "err", err)
		_ = srv.Close()
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		return fmt.Errorf("portal: %w", serveErr)
	}
	log.Info("portal stopped")
	return nil
}

// wrapHandler returns wrap(h), or h when wrap is nil.
func wrapHandler(wrap func(http.Handler) http.Handler, h http.Handler) http.Handler {
	if wrap == nil {
		return h
	}
	return wrap(h)
}

// endingStreams ends the event streams (the requests of /flow/ID/events)
// when streams is done, so that a shutdown need not wait for the
// sessions they follow to end.
func endingStreams(h http.Handler, streams context.Context) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/events") {
			ctx, cancel := context.WithCancel(r.Context())
			defer cancel()
			defer context.AfterFunc(streams, cancel)()
			r = r.WithContext(ctx)
		}
		h.ServeHTTP(w, r)
	})
}

// adminHandler serves /metrics from reg, /healthz, which answers 503
// once the portal drains, so that load balancers stop sending to it, and
// /readyz, which answers 200 only when every check of ready passes (and
// the portal is not draining), else 503 and what is not ready.
func adminHandler(reg *prometheus.Registry, draining *atomic.Bool, ready *readiness) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	// The Go profiler, for the operator's own listener only (never the
	// portal's): go tool pprof http://ADMIN/debug/pprof/profile.
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		if draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "draining")
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		problems := ready.check(r.Context())
		if draining.Load() {
			problems = append(problems, "portal: draining")
		}
		if len(problems) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			for _, p := range problems {
				fmt.Fprintln(w, p)
			}
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// Readiness: each check's result is kept for readyTTL, so that probes are
// cheap; a check taking longer than readyTimeout fails.
const (
	readyTTL     = 2 * time.Second
	readyTimeout = 2 * time.Second
)

// readyCheck is one part of the readiness: a name and what checks it.
type readyCheck struct {
	name  string
	check func(ctx context.Context) error
}

// readiness runs its checks at most once per ttl each, concurrently.
type readiness struct {
	ttl    time.Duration
	checks []readyCheck
	mu     sync.Mutex
	when   []time.Time
	errs   []error
}

func newReadiness(ttl time.Duration, checks []readyCheck) *readiness {
	return &readiness{ttl: ttl, checks: checks, when: make([]time.Time, len(checks)), errs: make([]error, len(checks))}
}

// check returns one line per check that fails: "name: error".
func (r *readiness) check(ctx context.Context) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var wg sync.WaitGroup
	for i, c := range r.checks {
		if !r.when[i].IsZero() && time.Since(r.when[i]) < r.ttl {
			continue
		}
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, readyTimeout)
			defer cancel()
			r.errs[i] = c.check(cctx)
			r.when[i] = time.Now()
		})
	}
	wg.Wait()
	var out []string
	for i, c := range r.checks {
		if r.errs[i] != nil {
			out = append(out, c.name+": "+r.errs[i].Error())
		}
	}
	return out
}
