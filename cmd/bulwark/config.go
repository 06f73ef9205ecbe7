package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of a Bulwark process. It is filled from the
// defaults, then BULWARK_* environment variables, then flags (flags win),
// and checked by Validate. Commands use the part they need.
type Config struct {
	// DataDir holds the SQLite database, the development certificate and,
	// later, keys and backups. Mode 0700.
	DataDir string
	// Addr is the public HTTPS listener, host:port.
	Addr string
	// DB is the database URL: sqlite:///path/file.db or postgres://...
	// Empty means sqlite:///<DataDir>/bulwark.db.
	DB string
	// DBOwner is PostgreSQL only: the URL of the role that owns the tables
	// and runs the migrations. The application role (DB) must not own them.
	DBOwner string
	// MetricsAddr is the Prometheus listener, host:port; empty disables it.
	// It is never the public listener.
	MetricsAddr string
	// InviteTTL is how long an activation token lives.
	InviteTTL time.Duration
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// TLSCert and TLSKey are PEM files of the public certificate and its
	// key. Empty: the development certificate in the data directory.
	// Changed files are picked up without a restart.
	TLSCert, TLSKey string
	// HTTPRedirectAddr, if set, is a plain-HTTP listener that only sends
	// browsers to HTTPS; API calls there get an error, never a redirect.
	HTTPRedirectAddr string
	// audit holds the audit log's settings (audit.go); nil = defaults.
	audit *auditConfig
	// keys holds the encryption settings (keys.go) of the commands that
	// seal or open; nil = none, and the store refuses what needs keys.
	keys *keysConfig
}

// Defaults.
const (
	DefaultDataDir     = "./bulwark-data"
	DefaultAddr        = "127.0.0.1:8443"
	DefaultMetricsAddr = "127.0.0.1:9464"
	DefaultInviteTTL   = 24 * time.Hour
	DefaultLogLevel    = "info"
	// dbFile is the SQLite database's name inside the data directory.
	dbFile = "bulwark.db"
)

// Bounds on InviteTTL: an activation token is a password-equivalent
// secret handed over out of band, so it must not live for long.
const (
	minInviteTTL = time.Minute
	maxInviteTTL = 30 * 24 * time.Hour
)

// DefaultConfig returns the configuration of a fresh development setup.
func DefaultConfig() Config {
	return Config{
		DataDir:     DefaultDataDir,
		Addr:        DefaultAddr,
		MetricsAddr: DefaultMetricsAddr,
		InviteTTL:   DefaultInviteTTL,
		LogLevel:    DefaultLogLevel,
	}
}

// setting is one Config field's flag and environment variable.
type setting struct {
	flag, env, meta, usage string
	// file: env_FILE names a file holding the value, for secrets such as
	// database URLs with passwords (Docker and Kubernetes secrets).
	file bool
}

var settings = map[string]setting{
	"data":               {"data", "BULWARK_DATA", "DIR", "the data directory, created with mode 0700", false},
	"addr":               {"addr", "BULWARK_ADDR", "HOST:PORT", "the HTTPS listen address", false},
	"db":                 {"db", "BULWARK_DB", "URL", "the database: sqlite:///PATH or postgres://... (default sqlite:///<data>/bulwark.db)", true},
	"db-owner":           {"db-owner", "BULWARK_DB_OWNER", "URL", "PostgreSQL only: the URL of the role that owns the tables and runs migrations", true},
	"metrics-addr":       {"metrics-addr", "BULWARK_METRICS_ADDR", "HOST:PORT", `the Prometheus metrics listen address (HTTPS); "" or "off" disables it`, false},
	"invite-ttl":         {"invite-ttl", "BULWARK_INVITE_TTL", "DURATION", "how long an activation token lives, such as 24h", false},
	"log-level":          {"log-level", "BULWARK_LOG_LEVEL", "LEVEL", "debug, info, warn or error", false},
	"tls-cert":           {"tls-cert", "BULWARK_TLS_CERT", "FILE", "PEM certificate (chain) to serve instead of the development certificate; reloaded when it changes", false},
	"tls-key":            {"tls-key", "BULWARK_TLS_KEY", "FILE", "PEM private key of --tls-cert (mode 0600 or 0640)", false},
	"http-redirect-addr": {"http-redirect-addr", "BULWARK_HTTP_REDIRECT_ADDR", "HOST:PORT", "a plain-HTTP listener that only redirects browsers to HTTPS (API calls there get an error)", false},
}

// bind registers the named settings as flags of c, writing into cfg.
func (cfg *Config) bind(c *command, names ...string) {
	for _, name := range names {
		s, ok := settings[name]
		if !ok {
			panic("unknown setting " + name)
		}
		u := s.usage
		c.meta[name] = s.meta
		switch name {
		case "data":
			c.fs.StringVar(&cfg.DataDir, name, cfg.DataDir, u)
		case "addr":
			c.fs.StringVar(&cfg.Addr, name, cfg.Addr, u)
		case "db":
			c.fs.StringVar(&cfg.DB, name, cfg.DB, u)
		case "db-owner":
			c.fs.StringVar(&cfg.DBOwner, name, cfg.DBOwner, u)
		case "metrics-addr":
			c.fs.StringVar(&cfg.MetricsAddr, name, cfg.MetricsAddr, u)
		case "invite-ttl":
			c.fs.DurationVar(&cfg.InviteTTL, name, cfg.InviteTTL, u)
		case "log-level":
			c.fs.StringVar(&cfg.LogLevel, name, cfg.LogLevel, u)
		case "tls-cert":
			c.fs.StringVar(&cfg.TLSCert, name, cfg.TLSCert, u)
		case "tls-key":
			c.fs.StringVar(&cfg.TLSKey, name, cfg.TLSKey, u)
		case "http-redirect-addr":
			c.fs.StringVar(&cfg.HTTPRedirectAddr, name, cfg.HTTPRedirectAddr, u)
		}
		c.env[name] = s.env
		if s.file {
			c.env[name] = s.env + " or " + s.env + "_FILE"
		}
	}
}

// applyEnv sets each of c's settings that was not given as a flag from
// its environment variable, if that is set. NAME_FILE variants are read
// from the file they name. Flags win over the environment.
func (cfg *Config) applyEnv(c *command, getenv func(string) string) error {
	given := map[string]bool{}
	c.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	c.fs.VisitAll(func(f *flag.Flag) {
		s, ok := settings[f.Name]
		if !ok || given[f.Name] {
			return
		}
		v, err := lookupEnv(s, getenv)
		if err != nil {
			errs = append(errs, err)
			return
		}
		if v == "" {
			return
		}
		if err := c.fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.env, err))
		}
	})
	return errors.Join(errs...)
}

func lookupEnv(s setting, getenv func(string) string) (string, error) {
	v := getenv(s.env)
	if !s.file {
		return v, nil
	}
	path := getenv(s.env + "_FILE")
	if path == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("both %s and %s_FILE are set; use one", s.env, s.env)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s_FILE: %w", s.env, err)
	}
	// Files written by editors and `echo` end in a newline.
	v = strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("%s_FILE: %s is empty", s.env, path)
	}
	return v, nil
}

// finish fills derived settings (the default database URL, an absolute
// data directory) and validates.
func (cfg *Config) finish() error {
	if cfg.DataDir == "" {
		return errors.New("the data directory (--data, BULWARK_DATA) must not be empty")
	}
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	cfg.DataDir = abs
	if cfg.MetricsAddr == "off" {
		cfg.MetricsAddr = ""
	}
	if cfg.DB == "" {
		cfg.DB = cfg.defaultDB()
	}
	return cfg.Validate()
}

func (cfg *Config) defaultDB() string {
	u := url.URL{Scheme: "sqlite", Path: filepath.ToSlash(filepath.Join(cfg.DataDir, dbFile))}
	return u.String()
}

// usesDataDirDB reports whether the database lives in the data directory.
func (cfg *Config) usesDataDirDB() bool { return cfg.DB == cfg.defaultDB() }

// Validate checks every setting and names the first wrong one.
func (cfg *Config) Validate() error {
	if cfg.DataDir == "" {
		return errors.New("the data directory (--data, BULWARK_DATA) must not be empty")
	}
	if err := validateAddr(cfg.Addr); err != nil {
		return fmt.Errorf("--addr %q: %w", cfg.Addr, err)
	}
	if cfg.MetricsAddr != "" {
		if err := validateAddr(cfg.MetricsAddr); err != nil {
			return fmt.Errorf("--metrics-addr %q: %w", cfg.MetricsAddr, err)
		}
		// Metrics tell an attacker about the deployment (ASVS V13.4.5):
		// they have their own listener, never the public one.
		if sameListener(cfg.Addr, cfg.MetricsAddr) {
			return fmt.Errorf("--metrics-addr %q: must differ from --addr: metrics are never served on the public listener", cfg.MetricsAddr)
		}
	}
	scheme, err := dbScheme(cfg.DB)
	if err != nil {
		return fmt.Errorf("--db: %w", err)
	}
	if cfg.DBOwner != "" {
		if scheme != "postgres" {
			return errors.New("--db-owner is for PostgreSQL only; --db is not a postgres:// URL")
		}
		if s, err := dbScheme(cfg.DBOwner); err != nil || s != "postgres" {
			return errors.New("--db-owner: must be a postgres:// URL")
		}
	}
	if cfg.InviteTTL < minInviteTTL || cfg.InviteTTL > maxInviteTTL {
		return fmt.Errorf("--invite-ttl %s: must be between %s and %s", cfg.InviteTTL, minInviteTTL, maxInviteTTL)
	}
	if _, err := parseLevel(cfg.LogLevel); err != nil {
		return fmt.Errorf("--log-level %q: must be debug, info, warn or error", cfg.LogLevel)
	}
	if (cfg.TLSCert == "") != (cfg.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together: give both, or neither for the development certificate")
	}
	if cfg.HTTPRedirectAddr != "" {
		if err := validateAddr(cfg.HTTPRedirectAddr); err != nil {
			return fmt.Errorf("--http-redirect-addr %q: %w", cfg.HTTPRedirectAddr, err)
		}
		if sameListener(cfg.Addr, cfg.HTTPRedirectAddr) || (cfg.MetricsAddr != "" && sameListener(cfg.MetricsAddr, cfg.HTTPRedirectAddr)) {
			return fmt.Errorf("--http-redirect-addr %q: must differ from --addr and --metrics-addr", cfg.HTTPRedirectAddr)
		}
	}
	return nil
}

func validateAddr(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("must be HOST:PORT, such as 127.0.0.1:8443")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("the port must be a number from 0 to 65535")
	}
	return nil
}

// sameListener reports whether a and b name the same port on overlapping
// hosts. Port 0 picks a free port and so never clashes.
func sameListener(a, b string) bool {
	ha, pa, _ := net.SplitHostPort(a)
	hb, pb, _ := net.SplitHostPort(b)
	if pa != pb || pa == "0" {
		return false
	}
	wild := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wild(ha) || wild(hb)
}

// dbScheme returns "sqlite" or "postgres" for a database URL.
func dbScheme(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		// The error would print the URL, password and all.
		return "", errors.New("not a valid URL")
	}
	switch u.Scheme {
	case "sqlite":
		if u.Host+u.Path == "" {
			return "", errors.New("a sqlite URL needs a file path, such as sqlite:///var/lib/bulwark/bulwark.db")
		}
		return "sqlite", nil
	case "postgres", "postgresql":
		return "postgres", nil
	}
	return "", errors.New("must start with sqlite:// or postgres://")
}

// redactURL hides a password in a database URL, for logs and messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparseable URL)"
	}
	if u.RawQuery != "" {
		// Query parameters such as password=... would leak too.
		q := u.Query()
		for k := range q {
			if strings.Contains(strings.ToLower(k), "password") {
				q.Set(k, "xxxxx")
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// newLogger returns the JSON logger of every command.
func newLogger(e *env, level string) *slog.Logger {
	l, _ := parseLevel(level) // Validate has checked it
	return slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: l}))
}

// loadConfig is what each command does after parsing its flags: the
// environment, then derived values and validation.
func (cfg *Config) load(c *command, e *env) error {
	if err := cfg.applyEnv(c, e.getenv); err != nil {
		return err
	}
	return cfg.finish()
}
