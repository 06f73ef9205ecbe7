package main

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"

	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/mail"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// newAuth makes the authentication service with its mailer. Mail goes to
// BULWARK_MAIL_URL (smtp://user:pass@host:587, smtps://..., file:///dir);
// without one, to the outbox directory in the data directory, so reset
// links work on a fresh install and each is logged. BULWARK_MAIL_FROM is
// the sender and BULWARK_PUBLIC_URL the base of links in mail.
func newAuth(e *env, cfg *Config, db *store.DB, log *slog.Logger) (*auth.Service, error) {
	u := e.getenv("BULWARK_MAIL_URL")
	if u == "" {
		u = "file://" + filepath.Join(cfg.DataDir, "outbox")
	}
	from := e.getenv("BULWARK_MAIL_FROM")
	if from == "" {
		from = "bulwark@localhost"
	}
	m, err := mail.Open(u, from)
	if err != nil {
		return nil, err
	}
	if o, ok := m.(*mail.Outbox); ok {
		log.Info("no SMTP server configured: mail goes to the outbox", "dir", o.Dir())
	}
	opt := auth.Options{Mailer: m, BaseURL: e.getenv("BULWARK_PUBLIC_URL"), Logger: log}
	// Per-address limits on credential attempts. The defaults suit clients
	// on their own addresses; many users behind one NAT, or a load test
	// from one host, need more.
	if v := e.getenv("BULWARK_LOGIN_ADDR_RATE"); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || r <= 0 {
			return nil, fmt.Errorf("BULWARK_LOGIN_ADDR_RATE %q: want attempts per second per address, such as 1 or 0.5", v)
		}
		opt.AddrRate = r
	}
	if v := e.getenv("BULWARK_LOGIN_ADDR_BURST"); v != "" {
		b, err := strconv.Atoi(v)
		if err != nil || b < 1 {
			return nil, fmt.Errorf("BULWARK_LOGIN_ADDR_BURST %q: want a whole number of attempts, such as 100", v)
		}
		opt.AddrBurst = b
	}
	return auth.New(db, opt), nil
}
