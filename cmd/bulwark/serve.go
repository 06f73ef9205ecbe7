package main

import (
	"context"
	"time"
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
	cfg.bind(c, "data", "addr", "db", "db-owner", "metrics-addr", "invite-ttl", "log-level")
	if _, code, ok := c.parse(e, args, 0); !ok {
		return code
	}
	if err := cfg.load(c, e); err != nil {
		return c.configError(e, err)
	}
	if err := serve(ctx, e, &cfg); err != nil {
		return fail(e, "serve", err)
	}
	return exitOK
}

