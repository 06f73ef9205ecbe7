package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/bulwarkhq/bulwark/internal/web"
)

const serveHelp = `Start Bulwark: create the data directory (mode 0700) if missing, make or
reuse the development TLS certificate in it, open the database and apply
its migrations, then serve the API over HTTPS until SIGINT or SIGTERM.

There is no plain-HTTP listener. Clients trust <data>/ca.pem, the
development CA made on first start:

	curl --cacert bulwark-data/ca.pem https://127.0.0.1:8443/healthz

Metrics are served on their own listener (--metrics-addr), never on the
public one. Logs are JSON lines on standard error.`

// shutdownTimeout bounds the graceful shutdown: requests in flight get this
// long to finish before their connections are closed.
const shutdownTimeout = 15 * time.Second

func runServe(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	c := newCommand("serve", "bulwark serve [flags]", serveHelp)
	cfg.bind(c, "data", "addr", "db", "db-owner", "metrics-addr", "invite-ttl", "log-level", "tls-cert", "tls-key", "http-redirect-addr")
	var ac auditConfig
	ac.bind(c, true, true, true)
	var kc keysConfig
	kc.bind(c)
	cpuProfile := c.fs.String("cpu-profile", "", "write a CPU profile of the whole run to `FILE` (go tool pprof), for measuring; see docs/performance.md")
	if _, code, ok := c.parse(e, args, 0); !ok {
		return code
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return fail(e, "serve", err)
	}
	defer stopProfile()
	if err := cfg.load(c, e); err != nil {
		return c.configError(e, err)
	}
	if err := ac.load(c, e, cfg.DataDir); err != nil {
		return c.configError(e, err)
	}
	cfg.audit = &ac
	if err := kc.load(c, e, cfg.DataDir); err != nil {
		return c.configError(e, err)
	}
	cfg.keys = &kc
	if err := serve(ctx, e, &cfg); err != nil {
		return fail(e, "serve", err)
	}
	return exitOK
}

// serve runs the server until ctx is done, then shuts it down gracefully.
// A nil error is a clean stop.
func serve(ctx context.Context, e *env, cfg *Config) error {
	log := newLogger(e, cfg.LogLevel)
	tuneGC()

	// The data directory holds the certificate's private keys even when
	// the database lives elsewhere, so it is always checked.
	if err := prepareDataDir(cfg.DataDir, true); err != nil {
		return err
	}
	certs, err := newCertSource(cfg, log)
	if err != nil {
		return err
	}

	db, err := openStore(ctx, cfg, log, true)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	log.Info("database ready", "db", redactURL(cfg.DB))
	// Re-seals after a rotation or reclassification run in the background
	// (keys.go); the wait runs before db.Close.
	jobsCtx, stopJobs := context.WithCancel(ctx)
	keyJobs := make(chan struct{})
	go func() { defer close(keyJobs); db.RunKeyJobs(jobsCtx, time.Minute) }()
	defer func() { stopJobs(); <-keyJobs }()
	if cfg.keys != nil {
		log.Info("encryption keys ready", "env", cfg.keys.Env, "kek", cfg.keys.KEK)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	authSvc, err := newAuth(e, cfg, db, log)
	if err != nil {
		return err
	}
	aud, err := startAudit(ctx, cfg, cfg.auditConfig(), db, log, reg)
	if err != nil {
		return err
	}
	// Stopped after the servers: entries acknowledged before shutdown are
	// numbered, signed and shipped by its last round.
	defer aud.stop(ctx)
	ssoSvc, err := newSSO(e, cfg, db)
	if err != nil {
		return err
	}
	go refreshSSOMetadata(jobsCtx, ssoSvc, time.Hour, log)
	api := web.New(web.Deps{
		SSO:         ssoSvc,
		Auth:        authSvc,
		Account:     authSvc,
		Sessions:    db,
		Settings:    db,
		Tenants:     db,
		Operators:   db,
		Users:       db,
		Roles:       db,
		Tokens:      db,
		Collections: db,
		Records:     db,
		Audit:       db,
		Keys:        db,
		Logger:      log,
		Ready:       db.Ping,
		Registry:    reg,
	})

	// The certificate comes from certs at each handshake, so a renewed one
	// is served without a restart.
	tlsCfg := web.TLSConfig()
	tlsCfg.GetCertificate = certs.get

	// Listen before printing, so the printed address is real (port 0 picks
	// a free port) and a client that reads it can connect at once.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	srv := web.NewServer(cfg.Addr, withConsole(api.Handler(), authSvc, db, ssoSvc, log), tlsCfg)
	// net/http's own messages name client addresses: serverErrorLog
	// withholds them (personal data, kept only sealed).
	srv.ErrorLog = serverErrorLog(log.Handler())
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}

	var metricsURL string
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listen on %s for metrics: %w", cfg.MetricsAddr, err)
		}
		msrv := web.NewServer(cfg.MetricsAddr, web.MetricsHandler(reg), tlsCfg.Clone())
		msrv.ErrorLog = srv.ErrorLog
		servers = append(servers, msrv)
		listeners = append(listeners, mln)
		metricsURL = publicURL(mln.Addr().String()) + "/metrics"
	}

	var redirectURL string
	var redirect *http.Server
	var rln net.Listener
	if cfg.HTTPRedirectAddr != "" {
		if rln, err = net.Listen("tcp", cfg.HTTPRedirectAddr); err != nil {
			for _, l := range listeners {
				l.Close()
			}
			return fmt.Errorf("listen on %s for the HTTP redirect: %w", cfg.HTTPRedirectAddr, err)
		}
		_, httpsPort, _ := net.SplitHostPort(ln.Addr().String())
		redirect = web.NewServer(cfg.HTTPRedirectAddr, redirectToHTTPS(httpsPort), nil)
		redirect.ErrorLog = srv.ErrorLog
		redirectURL = "http://" + rln.Addr().String()
	}

	base := publicURL(ln.Addr().String())
	fmt.Fprintf(e.stdout, "Bulwark is serving %s\n%s", base, certs.banner(base))
	if metricsURL != "" {
		fmt.Fprintf(e.stdout, "Metrics (not public):   %s\n", metricsURL)
	}
	if redirectURL != "" {
		fmt.Fprintf(e.stdout, "HTTP redirect only:     %s\n", redirectURL)
	}
	fmt.Fprintln(e.stdout, "Stop with Ctrl-C.")
	log.Info("serving", append([]any{"url", base, "metrics", metricsURL, "http_redirect", redirectURL}, certs.attrs...)...)

	errc := make(chan error, len(servers)+1)
	for i, s := range servers {
		go func() {
			// Certificates come from s.TLSConfig, so no file names here.
			errc <- s.ServeTLS(listeners[i], "", "")
		}()
	}
	if redirect != nil {
		// The only plain-HTTP listener: it serves no API and no page.
		servers = append(servers, redirect)
		go func() { errc <- redirect.Serve(rln) }()
	}

	var serveErr error
	select {
	case <-ctx.Done():
		log.Info("shutting down", "reason", context.Cause(ctx).Error())
	case serveErr = <-errc:
		log.Error("server failed", "err", serveErr)
	}

	// ctx is done; the shutdown gets its own deadline.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	var errs []error
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown %s: %w", s.Addr, err))
		}
	}
	if serveErr != nil && !errors.Is(serveErr, http.ErrServerClosed) {
		errs = append(errs, serveErr)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// tuneGC collects garbage less often than Go's default (GOGC=100) unless
// the operator set GOGC: at that default the collector took about a fifth
// of a record write's CPU (bulwark bench), while the live heap is a few
// tens of MB, so a heap up to five times that is the better trade. GOGC
// and GOMEMLIMIT in the environment still decide (docs/configuration.md).
func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}

// startCPUProfile writes a CPU profile of the process to path until the
// returned function is called; an empty path profiles nothing.
func startCPUProfile(path string) (func(), error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}
