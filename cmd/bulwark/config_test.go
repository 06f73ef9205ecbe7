package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// loadServe parses a serve command line with env and returns the result,
// the way runServe does.
func loadServe(t *testing.T, vars map[string]string, args ...string) (Config, error) {
	t.Helper()
	cfg := DefaultConfig()
	c := newCommand("serve", "bulwark serve", "")
	cfg.bind(c, "data", "addr", "db", "db-owner", "metrics-addr", "invite-ttl", "log-level")
	e := &env{getenv: func(k string) string { return vars[k] }, stdout: io.Discard, stderr: io.Discard}
	if _, code, ok := c.parse(e, args, 0); !ok {
		t.Fatalf("parse %v: exit %d", args, code)
	}
	err := cfg.load(c, e)
	return cfg, err
}

func TestConfigDefaults(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	cfg, err := loadServe(t, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir:     filepath.Join(dir, "bulwark-data"),
		Addr:        "127.0.0.1:8443",
		DB:          "sqlite://" + filepath.Join(dir, "bulwark-data", "bulwark.db"),
		MetricsAddr: "127.0.0.1:9464",
		InviteTTL:   24 * time.Hour,
		LogLevel:    "info",
	}
	if cfg != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", cfg, want)
	}
}

// Flags win over the environment, which wins over the defaults, setting
// by setting.
func TestConfigPrecedence(t *testing.T) {
	vars := map[string]string{
		"BULWARK_DATA":         "/env/data",
		"BULWARK_ADDR":         "127.0.0.1:7000",
		"BULWARK_DB":           "postgres://app@127.0.0.1/env",
		"BULWARK_DB_OWNER":     "postgres://owner@127.0.0.1/env",
		"BULWARK_METRICS_ADDR": "127.0.0.1:7001",
		"BULWARK_INVITE_TTL":   "2h",
		"BULWARK_LOG_LEVEL":    "warn",
	}
	envOnly, err := loadServe(t, vars)
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		DataDir: "/env/data", Addr: "127.0.0.1:7000",
		DB: "postgres://app@127.0.0.1/env", DBOwner: "postgres://owner@127.0.0.1/env",
		MetricsAddr: "127.0.0.1:7001", InviteTTL: 2 * time.Hour, LogLevel: "warn",
	}
	if envOnly != want {
		t.Errorf("from env:\n got %+v\nwant %+v", envOnly, want)
	}

	flags, err := loadServe(t, vars,
		"--data", "/flag/data", "--addr", "127.0.0.1:8000",
		"--db", "postgres://app@127.0.0.1/flag", "--db-owner", "postgres://owner@127.0.0.1/flag",
		"--metrics-addr", "127.0.0.1:8001", "--invite-ttl", "3h", "--log-level", "debug")
	if err != nil {
		t.Fatal(err)
	}
	want = Config{
		DataDir: "/flag/data", Addr: "127.0.0.1:8000",
		DB: "postgres://app@127.0.0.1/flag", DBOwner: "postgres://owner@127.0.0.1/flag",
		MetricsAddr: "127.0.0.1:8001", InviteTTL: 3 * time.Hour, LogLevel: "debug",
	}
	if flags != want {
		t.Errorf("flags over env:\n got %+v\nwant %+v", flags, want)
	}

	// One flag given: that one wins, the rest still come from env.
	mixed, err := loadServe(t, vars, "--addr", "127.0.0.1:9000")
	if err != nil {
		t.Fatal(err)
	}
	if mixed.Addr != "127.0.0.1:9000" || mixed.DataDir != "/env/data" || mixed.LogLevel != "warn" {
		t.Errorf("mixed: %+v", mixed)
	}
}

// The default database follows the data directory, from a flag or env.
func TestConfigDefaultDBFollowsDataDir(t *testing.T) {
	cfg, err := loadServe(t, map[string]string{"BULWARK_DATA": "/srv/bulwark"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != "sqlite:///srv/bulwark/bulwark.db" {
		t.Errorf("DB = %q", cfg.DB)
	}
	cfg, err = loadServe(t, nil, "--data", "/srv/with space#and?")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != "sqlite:///srv/with%20space%23and%3F/bulwark.db" {
		t.Errorf("DB = %q", cfg.DB)
	}
}

func TestConfigFileVariants(t *testing.T) {
	dir := t.TempDir()
	dbFile := filepath.Join(dir, "db-url")
	ownerFile := filepath.Join(dir, "owner-url")
	os.WriteFile(dbFile, []byte("postgres://app:s3cret@127.0.0.1/file\n"), 0o600)
	os.WriteFile(ownerFile, []byte("postgres://owner:s3cret@127.0.0.1/file\r\n"), 0o600)

	cfg, err := loadServe(t, map[string]string{"BULWARK_DB_FILE": dbFile, "BULWARK_DB_OWNER_FILE": ownerFile})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DB != "postgres://app:s3cret@127.0.0.1/file" || cfg.DBOwner != "postgres://owner:s3cret@127.0.0.1/file" {
		t.Errorf("from files: DB %q DBOwner %q", cfg.DB, cfg.DBOwner)
	}
	// A flag still wins over the file.
	cfg, err = loadServe(t, map[string]string{"BULWARK_DB_FILE": dbFile}, "--db", "sqlite:///x.db")
	if err != nil || cfg.DB != "sqlite:///x.db" {
		t.Errorf("flag over file: DB %q, err %v", cfg.DB, err)
	}

	for name, vars := range map[string]map[string]string{
		"both set":     {"BULWARK_DB": "sqlite:///x.db", "BULWARK_DB_FILE": dbFile},
		"missing file": {"BULWARK_DB_FILE": filepath.Join(dir, "nope")},
		"empty file":   {"BULWARK_DB_OWNER_FILE": os.DevNull},
	} {
		if _, err := loadServe(t, vars); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestConfigMetricsOff(t *testing.T) {
	for _, args := range [][]string{{"--metrics-addr", ""}, {"--metrics-addr=off"}} {
		cfg, err := loadServe(t, nil, args...)
		if err != nil || cfg.MetricsAddr != "" {
			t.Errorf("%v: MetricsAddr %q, err %v", args, cfg.MetricsAddr, err)
		}
	}
	cfg, err := loadServe(t, map[string]string{"BULWARK_METRICS_ADDR": "off"})
	if err != nil || cfg.MetricsAddr != "" {
		t.Errorf("env off: MetricsAddr %q, err %v", cfg.MetricsAddr, err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.DataDir = "/d"
	ok.DB = "sqlite:///d/bulwark.db"
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, change := range map[string]func(*Config){
		"empty data":          func(c *Config) { c.DataDir = "" },
		"bad addr":            func(c *Config) { c.Addr = "8443" },
		"bad port":            func(c *Config) { c.Addr = "127.0.0.1:http" },
		"metrics on public":   func(c *Config) { c.MetricsAddr = c.Addr },
		"metrics on wildcard": func(c *Config) { c.MetricsAddr = ":8443" },
		"bad db scheme":       func(c *Config) { c.DB = "mysql://x" },
		"owner for sqlite":    func(c *Config) { c.DBOwner = "postgres://o@h/d" },
		"owner not postgres":  func(c *Config) { c.DB = "postgres://a@h/d"; c.DBOwner = "sqlite:///x" },
		"ttl too short":       func(c *Config) { c.InviteTTL = time.Second },
		"ttl too long":        func(c *Config) { c.InviteTTL = 31 * 24 * time.Hour },
		"bad level":           func(c *Config) { c.LogLevel = "chatty" },
	} {
		c := ok
		change(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted %+v", name, c)
		}
	}
	pg := ok
	pg.DB, pg.DBOwner = "postgresql://app@127.0.0.1/b", "postgres://owner@127.0.0.1/b"
	if err := pg.Validate(); err != nil {
		t.Errorf("postgres with owner: %v", err)
	}
	zero := ok
	zero.Addr, zero.MetricsAddr = "127.0.0.1:0", "127.0.0.1:0"
	if err := zero.Validate(); err != nil {
		t.Errorf("two port-0 listeners: %v", err)
	}
}

// Database passwords never reach a message or a log line.
func TestRedactURL(t *testing.T) {
	for in, secret := range map[string]string{
		"postgres://app:hunter2@db.internal:5432/bulwark":               "hunter2",
		"postgres://app@db.internal/bulwark?password=hunter2&sslmode=x": "hunter2",
		"postgres://app:p%40ss@db/b":                                    "p@ss",
	} {
		out := redactURL(in)
		if strings.Contains(out, secret) || strings.Contains(out, "p%40ss") {
			t.Errorf("redactURL(%q) = %q still holds the password", in, out)
		}
		if !strings.Contains(out, "db") {
			t.Errorf("redactURL(%q) = %q lost the host", in, out)
		}
	}
	// A bad URL's error text must not echo the URL either.
	if _, err := dbScheme("postgres://app:hunter2@[bad/"); err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Errorf("dbScheme error %v", err)
	}
}

func TestPublicURL(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:8443": "https://127.0.0.1:8443",
		"[::1]:8443":     "https://[::1]:8443",
		"0.0.0.0:8443":   "https://localhost:8443",
		"[::]:8443":      "https://localhost:8443",
		":8443":          "https://localhost:8443",
	} {
		if got := publicURL(in); got != want {
			t.Errorf("publicURL(%q) = %q, want %q", in, got, want)
		}
	}
}
