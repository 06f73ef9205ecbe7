package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/bench"
)

// result is what one run of the command line produced.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command line with args and only the environment vars
// given (never the test process's own), as a person at a terminal would.
func runCmd(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	return runCtx(t, context.Background(), vars, args...)
}

func runCtx(t *testing.T, ctx context.Context, vars map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	getenv := func(k string) string { return vars[k] }
	code := run(ctx, args, getenv, strings.NewReader(""), &stdout, &stderr)
	return result{code, stdout.String(), stderr.String()}
}

func TestTopLevelHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"-h"}, {"help"}, {"-help"}} {
		r := runCmd(t, nil, args...)
		if r.code != exitOK {
			t.Errorf("%v: exit %d, want 0", args, r.code)
		}
		for _, cmd := range []string{"serve", "migrate", "operator create", "tenant create", "tenant list", "version"} {
			if !strings.Contains(r.stdout, cmd) {
				t.Errorf("%v: usage does not mention %q", args, cmd)
			}
		}
		if r.stderr != "" {
			t.Errorf("%v: stderr %q, want nothing", args, r.stderr)
		}
	}
}

func TestNoCommandIsUsageError(t *testing.T) {
	r := runCmd(t, nil)
	if r.code != exitUsage || !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("exit %d, stderr %q; want 2 and the usage", r.code, r.stderr)
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	for _, args := range [][]string{
		{"frobnicate"},
		{"--bogus"},
		{"tenant"},
		{"tenant", "delete"},
		{"operator"},
		{"operator", "list"},
	} {
		r := runCmd(t, nil, args...)
		if r.code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, r.code)
		}
		if !strings.Contains(r.stderr, "Usage:") {
			t.Errorf("%v: stderr lacks the usage: %q", args, r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("%v: stdout %q, want nothing", args, r.stdout)
		}
	}
}

// Every command prints its usage with --help, -h and through "help CMD",
// on stdout, and exits 0 without touching anything.
func TestEveryCommandHelp(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		synopsis string
		flags    []string
	}{
		{[]string{"serve"}, "bulwark serve", []string{"--data", "--addr", "--db", "--db-owner", "--metrics-addr", "--invite-ttl", "--log-level", "BULWARK_DB_FILE"}},
		{[]string{"migrate"}, "bulwark migrate", []string{"--data", "--db", "--db-owner", "--log-level"}},
		{[]string{"operator", "create"}, "bulwark operator create EMAIL", []string{"--role", "--data", "--db", "--invite-ttl", "--json"}},
		{[]string{"operator", "roles"}, "bulwark operator roles EMAIL", []string{"--role", "--data", "--db"}},
		{[]string{"tenant", "create"}, "bulwark tenant create SLUG", []string{"--name", "--admin-email", "--data", "--db", "--invite-ttl", "--json"}},
		{[]string{"tenant", "list"}, "bulwark tenant list", []string{"--data", "--db", "--json"}},
		{[]string{"version"}, "bulwark version", nil},
		{[]string{"operator"}, "bulwark operator <command>", []string{"create EMAIL", "roles EMAIL"}},
		{[]string{"tenant"}, "bulwark tenant <command>", []string{"create SLUG", "list"}},
	} {
		name := strings.Join(tc.args, " ")
		for _, args := range [][]string{
			append(append([]string{}, tc.args...), "--help"),
			append(append([]string{}, tc.args...), "-h"),
			append([]string{"help"}, tc.args...),
		} {
			t.Run(strings.Join(args, " "), func(t *testing.T) {
				dir := t.TempDir()
				r := runCmd(t, map[string]string{"BULWARK_DATA": dir + "/data"}, args...)
				if r.code != exitOK {
					t.Fatalf("exit %d, want 0; stderr %q", r.code, r.stderr)
				}
				if !strings.Contains(r.stdout, "Usage: "+tc.synopsis) {
					t.Errorf("%s: stdout lacks %q:\n%s", name, "Usage: "+tc.synopsis, r.stdout)
				}
				for _, f := range tc.flags {
					if !strings.Contains(r.stdout, f) {
						t.Errorf("%s: help does not mention %s", name, f)
					}
				}
				if r.stderr != "" {
					t.Errorf("stderr %q, want nothing", r.stderr)
				}
			})
		}
	}
}

// A wrong command line exits 2 and shows what is wrong and the usage, on
// stderr, before anything is opened or created.
func TestBadCommandLines(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--bogus"},
		{"serve", "extra"},
		{"serve", "--addr", "no-port"},
		{"serve", "--addr", "127.0.0.1:99999"},
		{"serve", "--metrics-addr", "127.0.0.1:8443"},
		{"serve", "--metrics-addr", "0.0.0.0:8443"},
		{"serve", "--invite-ttl", "forever"},
		{"serve", "--invite-ttl", "1s"},
		{"serve", "--invite-ttl", "9000h"},
		{"serve", "--log-level", "loud"},
		{"serve", "--db", "mysql://localhost/bulwark"},
		{"serve", "--db", "sqlite://"},
		{"serve", "--db-owner", "postgres://owner@localhost/bulwark"},
		{"serve", "--db", "postgres://app@localhost/b", "--db-owner", "sqlite:///x.db"},
		{"serve", "--data", ""},
		{"migrate", "--addr", "127.0.0.1:1"},
		{"migrate", "now"},
		{"operator", "create"},
		{"operator", "create", "a@example.com", "b@example.com"},
		{"operator", "create", "a@example.com", "--password", "hunter2"},
		{"tenant", "create", "--name", "Acme", "--admin-email", "a@example.com"},
		{"tenant", "create", "acme", "--admin-email", "a@example.com"},
		{"tenant", "create", "acme", "--name", "Acme"},
		{"tenant", "create", "acme", "--name", "Acme", "--admin-email", "a@example.com", "--password", "x"},
		{"tenant", "list", "acme"},
		{"version", "--json"},
		{"version", "now"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			dir := t.TempDir() + "/data"
			r := runCmd(t, map[string]string{"BULWARK_DATA": dir}, args...)
			if r.code != exitUsage {
				t.Fatalf("exit %d, want 2; stdout %q stderr %q", r.code, r.stdout, r.stderr)
			}
			if r.stderr == "" {
				t.Error("nothing on stderr")
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			if _, err := os.Stat(dir); err == nil {
				t.Error("a bad command line created the data directory")
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := runCmd(t, nil, "version")
	if r.code != exitOK || !strings.HasPrefix(r.stdout, "bulwark ") || !strings.Contains(r.stdout, "go1.") {
		t.Errorf("exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestBenchRoundsAlternateAndPairs(t *testing.T) {
	if got := inTurn([]string{"a", "b", "c"}, 1); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("odd round: %v", got)
	}
	names := []string{"a", "b", "c"}
	if got := inTurn(names, 2); !slices.Equal(got, []string{"c", "b", "a"}) || names[0] != "a" {
		t.Errorf("even round: %v (names now %v)", got, names)
	}
	one := []*benchTarget{{}}
	if got := ratioPairs([]string{"create", "bare"}, one); !slices.Equal(got, []ratioPair{{"create", "bare", 70, false}, {"create", noAuditScenario, 90, true}}) {
		t.Errorf("one target: %v", got)
	}
	two := []*benchTarget{{label: "@10"}, {label: "@10000"}}
	want := []ratioPair{{"create@10", "bare", 70, false}, {"create@10", noAuditScenario + "@10", 90, true}, {"create@10000", "create@10", 90, false}, {"get@10000", "get@10", 90, false}}
	if got := ratioPairs([]string{"create", "bare", "get"}, two); !slices.Equal(got, want) {
		t.Errorf("two targets: %v, want %v", got, want)
	}
}

func TestBenchRefusesBadRounds(t *testing.T) {
	for _, args := range [][]string{
		{"bench", "--rounds", "0"},
		{"bench", "--compare-tenants", "10"}, // the same as --tenants: results could not be told apart
		{"bench", "--compare-tenants", "5", "--compare-records", "-1"},
	} {
		if r := runCmd(t, nil, args...); r.code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage); stderr %s", args, r.code, r.stderr)
		}
	}
}

// bench pool takes the rounds of several runs together, and refuses runs
// of different setups.
func TestBenchPoolPoolsRounds(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, tenants int, creates ...float64) string {
		var rounds [][]bench.Result
		for _, c := range creates {
			rounds = append(rounds, []bench.Result{{Scenario: "create", Requests: 1, Seconds: 1, PerSecond: c}, {Scenario: "bare", Requests: 1, Seconds: 1, PerSecond: 100}})
		}
		b, _ := json.Marshal(map[string]any{"backend": "sqlite", "tenants": tenants, "records": 100, "rounds": rounds})
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.json", 10, 60, 61, 62, 63)
	b := write("b.json", 10, 70, 71, 72, 73)
	out := filepath.Join(dir, "pooled.json")
	if r := runCmd(t, nil, "bench", "pool", "--json", out, a, b); r.code != exitOK {
		t.Fatalf("pool: exit %d, stderr %s", r.code, r.stderr)
	}
	var pooled struct {
		Rounds int           `json:"rounds"`
		Ratios []bench.Ratio `json:"ratios"`
	}
	if raw, err := os.ReadFile(out); err != nil || json.Unmarshal(raw, &pooled) != nil {
		t.Fatalf("pooled JSON: %v", err)
	}
	if pooled.Rounds != 8 || len(pooled.Ratios) != 1 || pooled.Ratios[0].Median != 66.5 || pooled.Ratios[0].CILow != 60 || pooled.Ratios[0].CIHigh != 73 {
		t.Fatalf("pooled = %+v, want 8 rounds, create/bare median 66.5 bounded by 60 and 73", pooled)
	}
	other := write("c.json", 10000, 80, 81)
	empty := filepath.Join(dir, "empty.json")
	os.WriteFile(empty, []byte(`{"backend":"sqlite","tenants":10,"records":100}`), 0o600)
	for _, args := range [][]string{{a, other}, {a, empty}, {filepath.Join(dir, "missing.json")}} {
		if r := runCmd(t, nil, append([]string{"bench", "pool"}, args...)...); r.code != exitError {
			t.Errorf("pool %v: exit %d, want %d", args, r.code, exitError)
		}
	}
	if r := runCmd(t, nil, "bench", "pool"); r.code != exitUsage {
		t.Errorf("pool without files: exit %d, want %d", r.code, exitUsage)
	}
}
