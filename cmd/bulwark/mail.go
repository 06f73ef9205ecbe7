package main

import (
	"log/slog"
	"path/filepath"

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
	return auth.New(db, auth.Options{Mailer: m, BaseURL: e.getenv("BULWARK_PUBLIC_URL"), Logger: log}), nil
}
