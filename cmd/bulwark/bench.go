package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/bench"
	"github.com/bulwarkhq/bulwark/internal/devcert"
	"github.com/bulwarkhq/bulwark/internal/pgadmin"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/web"
)

const benchHelp = `Measure Bulwark's throughput and latency.

bench starts a server of its own (this binary's "serve", as a separate
process, on a fresh temporary data directory), prepares tenants with a
collection of three plain and two sealed fields and an API token each,
preloads records, then drives the server over HTTPS with keep-alive from
--concurrency clients for each scenario:

	create   POST a record
	get      GET a record by id
	list     GET 20 records with an equality filter
	update   PATCH a record with If-Match
	login    POST a password login (Argon2id)
	mix      70% get, 10% list, 15% create, 5% update
	bare     the baseline: the same row (its tenant, collection and id,
	         keyed as records are, over as many tenants) written with the
	         same durability (SQLite WAL, group commit, answered after
	         the fsync) by a second process behind the API's own HTTP
	         stack (middleware, router, JSON reader, the create's answer),
	         without authentication, authorization, validation, sealing
	         or audit; full/bare is what those controls cost
	create-noaudit
	         create with the server's audit entries switched off for
	         the scenario (builds with -tags benchhook only);
	         create/create-noaudit is what the audit log costs

With --rounds N the scenarios run N times in turn, each for --duration:
the table is over all rounds, and create/bare and create/create-noaudit
are given round by round (the median, the quartiles and the minimum
and maximum of the rounds), so that a drift in the machine's speed
falls on both sides of a ratio alike. Short rounds
(--rounds 10 --duration 3s) measure a cost side by side.

With --compare-tenants N (and --compare-records M) a second server is
prepared with N tenants of M records each, and every scenario but bare
runs against both in turn, round by round: each scenario's throughput
with N tenants over the first server's is given the same way
(--tenants 10 --records 1000 --compare-tenants 10000 --compare-records 1
compares the numbers of tenants at equal data).

With --cpu-profile FILE it writes CPU profiles of the server (FILE), the
baseline server (FILE.bare), the compared server (FILE.compare) and this
load generator (FILE.client).

It prints a progress line a second, then a table, and with --json a JSON
file. Each ratio over six rounds or more comes with a 95 % bound of its
median, in brackets, and where an issue sets a target for it (create at
least 70 % of bare, the audit log at most 10 %, 10,000 tenants within
10 %), the verdict of that bound: met, missed or undecided. "bulwark
bench pool FILE..." pools the rounds of several runs' JSON files. See
docs/performance.md for figures and how to read them.`

type benchConfig struct {
	scenarios            string
	concurrency, tenants int
	records              int
	duration, warmup     time.Duration
	backend, postgres    string
	jsonOut              string
	cpuProfile           string
	rounds               int
	// compareTenants, if set, is a second server's number of tenants
	// (compareRecords records each), measured side by side.
	compareTenants, compareRecords int
}

func runBench(ctx context.Context, e *env, args []string) int {
	if len(args) > 0 && args[0] == "baseline-server" {
		return runBenchBaseline(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "pool" {
		return runBenchPool(e, args[1:])
	}
	var bc benchConfig
	c := newCommand("bench", "bulwark bench [flags]", benchHelp)
	c.fs.StringVar(&bc.scenarios, "scenarios", "create,bare,get,list,update,mix,login", "comma-separated scenarios to run, in order")
	c.fs.IntVar(&bc.concurrency, "concurrency", 64, "concurrent clients")
	c.fs.DurationVar(&bc.duration, "duration", 10*time.Second, "measured time per scenario")
	c.fs.DurationVar(&bc.warmup, "warmup", 2*time.Second, "unmeasured time before each scenario")
	c.fs.IntVar(&bc.tenants, "tenants", 10, "tenants to spread the load over")
	c.fs.IntVar(&bc.records, "records", 100, "records preloaded per tenant")
	c.fs.StringVar(&bc.backend, "backend", "sqlite", "sqlite or postgres")
	c.fs.StringVar(&bc.postgres, "postgres", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "with --backend postgres: an admin URL; bench makes and drops its own database and roles")
	c.fs.StringVar(&bc.jsonOut, "json", "", "also write the results to this JSON file")
	c.fs.IntVar(&bc.rounds, "rounds", 1, "run the scenarios this many times in turn, each for --duration, and report each scenario over all rounds and the ratios of the rounds side by side")
	c.fs.IntVar(&bc.compareTenants, "compare-tenants", 0, "also run every scenario but bare against a second server with this many tenants, in turn with the first, and give each scenario's throughput there over the first's")
	c.fs.IntVar(&bc.compareRecords, "compare-records", 0, "records preloaded per tenant of the --compare-tenants server (default: --records)")
	c.fs.StringVar(&bc.cpuProfile, "cpu-profile", "", "write CPU profiles of the whole run (go tool pprof): the server's to `FILE`, the baseline server's to FILE.bare, the compared server's to FILE.compare, this load generator's to FILE.client")
	if _, code, ok := c.parse(e, args, 0); !ok {
		return code
	}
	if bc.concurrency < 1 || bc.tenants < 1 || bc.records < 1 || bc.duration <= 0 || bc.rounds < 1 {
		return c.usageError(e, "--concurrency, --tenants, --records, --duration and --rounds must be positive")
	}
	if slices.Contains(strings.Split(bc.scenarios, ","), noAuditScenario) && !benchHook {
		return c.usageError(e, noAuditScenario+" needs a build with the benchmark hook: go build -tags benchhook -o /tmp/bulwark-hook ./cmd/bulwark")
	}
	if bc.compareRecords == 0 {
		bc.compareRecords = bc.records
	}
	if bc.compareTenants < 0 || bc.compareRecords < 1 {
		return c.usageError(e, "--compare-tenants and --compare-records must be positive")
	}
	if bc.compareTenants == bc.tenants {
		return c.usageError(e, "--compare-tenants must differ from --tenants: it names the second server's results")
	}
	if bc.backend != "sqlite" && bc.backend != "postgres" {
		return c.usageError(e, "--backend must be sqlite or postgres")
	}
	if err := benchmark(ctx, e, &bc); err != nil {
		return fail(e, "bench", err)
	}
	return exitOK
}

func benchmark(ctx context.Context, e *env, bc *benchConfig) error {
	tmp, err := os.MkdirTemp("", "bulwark-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if bc.cpuProfile != "" {
		stopProfile, err := startCPUProfile(bc.cpuProfile + ".client")
		if err != nil {
			return err
		}
		defer stopProfile()
	}
	names := strings.Split(bc.scenarios, ",")
	var cleanup []func()
	defer func() {
		for i := len(cleanup) - 1; i >= 0; i-- {
			cleanup[i]()
		}
	}()
	targets := []*benchTarget{{tenants: bc.tenants, records: bc.records}}
	if bc.compareTenants > 0 {
		targets = append(targets, &benchTarget{tenants: bc.compareTenants, records: bc.compareRecords})
		for _, t := range targets {
			t.label = "@" + strconv.Itoa(t.tenants)
		}
	}
	for i, t := range targets {
		if err := t.start(ctx, e, bc, tmp, i, names, &cleanup); err != nil {
			return err
		}
	}
	var rounds [][]bench.Result
	for round := 1; round <= bc.rounds; round++ {
		var rs []bench.Result
		for _, name := range inTurn(names, round) {
			for _, t := range inTurn(targets, round) {
				label := t.label
				if name == "bare" {
					if t != targets[0] {
						continue // the baseline has no tenants: one is enough
					}
					label = ""
				}
				r, err := t.ops.run(ctx, e, name, label, round)
				if err != nil {
					return err
				}
				r.Scenario += label
				rs = append(rs, r)
			}
		}
		rounds = append(rounds, rs)
	}
	var labels []string // in the order of the first round, which is as given
	for _, r := range rounds[0] {
		labels = append(labels, r.Scenario)
	}
	results := mergeRounds(labels, rounds)
	per := fmt.Sprintf("%s per scenario after %s warm-up", bc.duration, bc.warmup)
	if bc.rounds > 1 {
		per = fmt.Sprintf("%d rounds of %s per scenario, each after %s warm-up", bc.rounds, bc.duration, bc.warmup)
	}
	fmt.Fprintf(e.stdout, "\nbackend %s, %s, concurrency %d, %s\n\n", bc.backend, describeTargets(targets), bc.concurrency, per)
	bench.WriteTable(e.stdout, results)
	ratios := writeRatios(e, rounds, ratioPairs(names, targets))
	for _, t := range targets {
		if rss, err := peakRSS(t.proc.Pid); err == nil {
			fmt.Fprintf(e.stdout, "\nserver%s peak memory (VmHWM): %d MiB", t.label, rss>>20)
		}
	}
	fmt.Fprintln(e.stdout)
	if bc.jsonOut != "" {
		out := benchRun{benchSetup: benchSetup{Backend: bc.backend, Tenants: bc.tenants, Records: bc.records}, Results: results, Ratios: ratios}
		if bc.compareTenants > 0 {
			out.CompareTenants, out.CompareRecords = bc.compareTenants, bc.compareRecords
		}
		if bc.rounds > 1 {
			out.Rounds = rounds
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		if err := os.WriteFile(bc.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// benchTarget is one server under test: its own process, data directory
// (or PostgreSQL database) and prepared tenants. With --compare-tenants
// there are two, and every scenario but bare runs against each in turn.
type benchTarget struct {
	label            string // "@N" for N tenants when there are two, else ""
	tenants, records int
	proc             *os.Process
	ops              *benchOps
}

// start starts the target's server, prepares its tenants and warms it.
// What it starts is stopped by the functions it appends to cleanup.
func (t *benchTarget) start(ctx context.Context, e *env, bc *benchConfig, tmp string, i int, names []string, cleanup *[]func()) error {
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(tmp, "server"+strconv.Itoa(i))
	cfg.Addr, cfg.MetricsAddr, cfg.LogLevel = "127.0.0.1:0", "", "error"
	if bc.backend == "postgres" {
		scratch, err := pgadmin.Create(ctx, bc.postgres, "bulwark_bench"+strconv.Itoa(i))
		if err != nil {
			return fmt.Errorf("make a PostgreSQL database for the run: %w", err)
		}
		*cleanup = append(*cleanup, func() { scratch.Drop() })
		cfg.DB, cfg.DBOwner = scratch.AppURL, scratch.OwnerURL
	}
	if err := cfg.finish(); err != nil {
		return err
	}
	// The same keys the server child uses by default: its KEK file in its
	// data directory, in the default environment.
	cfg.keys = defaultKeys(cfg.DataDir)
	fmt.Fprintf(e.stderr, "bench: starting a server (%s) in %s\n", bc.backend, cfg.DataDir)
	srvArgs := []string{"serve", "--data", cfg.DataDir, "--addr", cfg.Addr, "--metrics-addr", "off", "--log-level", "error", "--db", cfg.DB}
	if bc.cpuProfile != "" {
		profile := bc.cpuProfile
		if i > 0 {
			profile += ".compare"
		}
		srvArgs = append(srvArgs, "--cpu-profile", profile)
	}
	if cfg.DBOwner != "" {
		srvArgs = append(srvArgs, "--db-owner", cfg.DBOwner)
	}
	base, stop, proc, err := startChild(ctx, e, srvArgs...)
	if err != nil {
		return err
	}
	*cleanup = append(*cleanup, stop)
	t.proc = proc

	fmt.Fprintf(e.stderr, "bench: preparing %d tenants with %d records each\n", t.tenants, t.records)
	prep := *bc
	prep.tenants, prep.records = t.tenants, t.records
	tenants, err := prepareTenants(ctx, e, &cfg, &prep)
	if err != nil {
		return fmt.Errorf("prepare tenants: %w", err)
	}
	client, err := bench.NewClient(base, filepath.Join(cfg.DataDir, "ca.pem"), bc.concurrency)
	if err != nil {
		return err
	}
	sc := &bench.Scenarios{C: client, Tenants: tenants, Concurrency: bc.concurrency}
	if err := prepareLogins(ctx, e, sc, names); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "bench: warming the server: one read as each tenant\n")
	if err := sc.Warm(ctx, bc.concurrency); err != nil {
		return err
	}
	if i > 0 {
		// One baseline serves both targets (it has no tenants).
		names = slices.DeleteFunc(slices.Clone(names), func(n string) bool { return n == "bare" })
	}
	if t.ops, err = newBenchOps(ctx, e, sc, names, tmp, proc, bc); err != nil {
		return err
	}
	*cleanup = append(*cleanup, t.ops.stop)
	return nil
}

// inTurn is the order of a round: as given in odd rounds, reversed in
// even ones. A server goes on working for a moment after its scenario
// ends (the audit sequencer, shipping, checkpoints), into the warm-up of
// the next; alternating the order gives each side of a ratio that
// disadvantage equally often.
func inTurn[T any](xs []T, round int) []T {
	if round%2 == 1 {
		return xs
	}
	r := slices.Clone(xs)
	slices.Reverse(r)
	return r
}

func describeTargets(ts []*benchTarget) string {
	var parts []string
	for _, t := range ts {
		parts = append(parts, fmt.Sprintf("%d tenants with %d records each", t.tenants, t.records))
	}
	return strings.Join(parts, " against ")
}

// ratioPair is a throughput ratio worth giving, a over b, and the
// issues' floor for it in percent (0: none); logCost marks create over
// create-noaudit, whose complement is what the audit log costs.
type ratioPair struct {
	a, b    string
	floor   float64
	logCost bool
}

// ratioPairs are the throughput ratios worth giving: create over bare
// (issue 7: at least 70 %) and over create-noaudit (issue 4: the audit
// log costs at most 10 %), for the first target; and with two targets,
// each scenario with the compared number of tenants over the first
// (issue 7: within 10 %).
func ratioPairs(names []string, ts []*benchTarget) []ratioPair {
	first := ts[0].label
	pairs := []ratioPair{{"create" + first, "bare", 70, false}, {"create" + first, noAuditScenario + first, 90, true}}
	if len(ts) > 1 {
		for _, name := range names {
			if name != "bare" {
				pairs = append(pairs, ratioPair{name + ts[1].label, name + first, 90, false})
			}
		}
	}
	return pairs
}

// noAuditScenario is create with the server's audit log switched off
// for its measured time and warm-up (builds with -tags benchhook only):
// side by side with create, in rounds, it measures what the log costs a
// write (docs/performance.md).
const noAuditScenario = "create-noaudit"

// benchOps holds each scenario's operation, made once and used in every
// round, and the baseline server if bare is among them.
type benchOps struct {
	opt      bench.Options
	rounds   int
	server   *os.Process // serves every scenario but bare
	bare     *os.Process // serves bare; nil if it is not run
	stopBare func()
	ops      map[string]bench.Op
}

func newBenchOps(ctx context.Context, e *env, sc *bench.Scenarios, names []string, tmp string, server *os.Process, bc *benchConfig) (*benchOps, error) {
	o := &benchOps{rounds: bc.rounds, server: server, ops: map[string]bench.Op{},
		opt: bench.Options{Concurrency: bc.concurrency, Warmup: bc.warmup, Duration: bc.duration, Progress: e.stderr,
			ClientCPU: func() (time.Duration, error) { return processCPU(os.Getpid()) }}}
	for _, name := range names {
		if _, ok := o.ops[name]; ok {
			continue
		}
		var err error
		switch name {
		case "bare":
			o.ops[name], o.bare, o.stopBare, err = bareOp(ctx, e, tmp, bc.concurrency, bc.tenants, bc.cpuProfile)
		case noAuditScenario:
			o.ops[name], err = sc.Op("create")
		default:
			o.ops[name], err = sc.Op(name)
		}
		if err != nil {
			o.stop()
			return nil, err
		}
	}
	return o, nil
}

// run measures one scenario once; label names the target in progress
// lines.
func (o *benchOps) run(ctx context.Context, e *env, name, label string, round int) (bench.Result, error) {
	if o.rounds > 1 {
		fmt.Fprintf(e.stderr, "bench: %s%s (round %d of %d)\n", name, label, round, o.rounds)
	} else {
		fmt.Fprintf(e.stderr, "bench: %s%s\n", name, label)
	}
	noAudit := name == noAuditScenario
	if noAudit {
		if err := setServerAudit(o.server, false); err != nil {
			return bench.Result{}, err
		}
	}
	opt := o.opt
	proc := o.server
	if name == "bare" {
		proc = o.bare
	}
	opt.ServerCPU = func() (time.Duration, error) { return processCPU(proc.Pid) }
	r := bench.Run(ctx, name, opt, o.ops[name])
	if noAudit {
		if err := setServerAudit(o.server, true); err != nil {
			return r, err
		}
	}
	return r, ctx.Err()
}

func (o *benchOps) stop() {
	if o.stopBare != nil {
		o.stopBare()
	}
}

// mergeRounds gives each scenario's results over all rounds, in the order
// of names (results' Scenario).
func mergeRounds(names []string, rounds [][]bench.Result) []bench.Result {
	var out []bench.Result
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		var rs []bench.Result
		for _, round := range rounds {
			for _, r := range round {
				if r.Scenario == name {
					rs = append(rs, r)
				}
			}
		}
		out = append(out, bench.Merge(rs))
	}
	return out
}

// writeRatios prints the throughput ratios of the pairs of scenarios
// that ran, over the rounds, and returns them.
func writeRatios(e *env, rounds [][]bench.Result, pairs []ratioPair) []bench.Ratio {
	var out []bench.Ratio
	for _, pair := range pairs {
		r, ok := bench.Ratios(rounds, pair.a, pair.b)
		if !ok {
			continue
		}
		if len(out) == 0 {
			fmt.Fprintf(e.stdout, "\nthroughput ratios, round by round (median [its 95 %% bound]; quartiles, min-max):\n")
		}
		out = append(out, r)
		bound := "[no bound under 6 rounds]"
		if r.Confidence > 0 {
			bound = fmt.Sprintf("[%.1f-%.1f]", r.CILow, r.CIHigh)
		}
		fmt.Fprintf(e.stdout, "  %-42s %5.1f %%  %s  (%.1f-%.1f, %.1f-%.1f over %d rounds)", r.A+" / "+r.B, r.Median, bound, r.Q1, r.Q3, r.Min, r.Max, r.Rounds)
		if pair.logCost {
			fmt.Fprintf(e.stdout, ": the audit log costs %.1f %% of write throughput", 100-r.Median)
		}
		if v := r.Verdict(pair.floor); pair.floor > 0 && v != "" {
			fmt.Fprintf(e.stdout, "; target at least %.0f %%: %s", pair.floor, v)
		}
		fmt.Fprintln(e.stdout)
	}
	return out
}

// startChild runs this binary with args and waits for it to print the URL
// it serves. stop ends it with SIGTERM.
func startChild(ctx context.Context, e *env, args ...string) (string, func(), *os.Process, error) {
	self, err := os.Executable()
	if err != nil {
		return "", nil, nil, err
	}
	cmd := exec.Command(self, args...)
	// All the bench's clients share one address: lift the per-address
	// login limit, or the login scenario would measure the limiter.
	cmd.Env = append(os.Environ(), "BULWARK_LOGIN_ADDR_RATE=1000000", "BULWARK_LOGIN_ADDR_BURST=1000000")
	cmd.Stderr = e.stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return "", nil, nil, err
	}
	stop := func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if rest, ok := strings.CutPrefix(sc.Text(), "Bulwark is serving "); ok {
				urls <- strings.TrimSpace(rest)
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			stop()
			return "", nil, nil, fmt.Errorf("%s %s exited before serving", self, args[0])
		}
		return u, stop, cmd.Process, nil
	case <-time.After(60 * time.Second):
		stop()
		return "", nil, nil, errors.New("the server did not start within 60s")
	case <-ctx.Done():
		stop()
		return "", nil, nil, ctx.Err()
	}
}

// prepareTenants makes the tenants through the store directly (the bench
// holds the database, like the CLI): a tenant, its bench collection, an
// owner API token and preloaded records each.
func prepareTenants(ctx context.Context, e *env, cfg *Config, bc *benchConfig) ([]bench.Tenant, error) {
	db, err := openStore(ctx, cfg, newLogger(e, "error"), false)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	owner, _ := bulwark.BuiltInRole(bulwark.RoleOwner)
	tenants := make([]bench.Tenant, bc.tenants)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		done     int
	)
	work := make(chan int)
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				t, err := prepareTenant(ctx, db, i, bc.records, owner)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				tenants[i] = t
				done++
				if done%1000 == 0 {
					fmt.Fprintf(e.stderr, "  %d/%d tenants ready\n", done, bc.tenants)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < bc.tenants && ctx.Err() == nil; i++ {
		mu.Lock()
		failed := firstErr != nil
		mu.Unlock()
		if failed {
			break
		}
		work <- i
	}
	close(work)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := waitAuditSettled(ctx, e, db); err != nil {
		return nil, err
	}
	return tenants, ctx.Err()
}

// waitAuditSettled waits until the server's sequencer has numbered and
// shipped the audit entries the setup wrote (tens of thousands with
// 10,000 tenants): measuring before then would charge the first scenario
// for that background work.
func waitAuditSettled(ctx context.Context, e *env, db *store.DB) error {
	deadline := time.Now().Add(2 * time.Minute)
	var last time.Time
	for {
		st, err := db.AuditState(ctx)
		if err != nil {
			return fmt.Errorf("read the audit log's state: %w", err)
		}
		if st.Pending == 0 && st.Replicated == st.Size {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the server's audit log did not settle within 2 minutes (%d pending, %d of %d shipped)", st.Pending, st.Replicated, st.Size)
		}
		if time.Since(last) >= time.Second {
			fmt.Fprintf(e.stderr, "  waiting for the audit log: %d pending, %d of %d shipped\n", st.Pending, st.Replicated, st.Size)
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var benchFields = []bulwark.Field{
	{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassInternal, Required: true},
	{Name: "count", Type: bulwark.TypeNumber, Classification: bulwark.ClassPublic},
	{Name: "active", Type: bulwark.TypeBool, Classification: bulwark.ClassPublic},
	{Name: "email", Type: bulwark.TypeEmail, Classification: bulwark.ClassPersonal},
	{Name: "note", Type: bulwark.TypeText, Classification: bulwark.ClassConfidential},
}

func prepareTenant(ctx context.Context, db *store.DB, i, records int, owner bulwark.Role) (bench.Tenant, error) {
	slug := fmt.Sprintf("bench-%05d", i)
	ten, inv, err := db.CreateTenant(systemContext(ctx), bulwark.NewTenant{Slug: slug, Name: slug, AdminEmail: "owner@" + slug + ".example"})
	if err != nil {
		return bench.Tenant{}, err
	}
	// Setup acts as the tenant's owner without a login: the bench holds
	// the database, as the CLI does. It takes the owner's id, since a
	// token made by no user of the tenant is refused.
	p := &bulwark.Principal{Kind: bulwark.KindUser, ID: "bench-setup", TenantID: ten.ID, TenantSlug: slug,
		Grants: []bulwark.ResolvedGrant{{Grant: bulwark.Grant{Role: bulwark.RoleOwner}, Permissions: owner.Permissions}}}
	tctx := bulwark.NewContext(ctx, p)
	users, _, err := db.ListUsers(tctx, bulwark.ListOptions{Limit: 1})
	if err != nil || len(users) != 1 {
		return bench.Tenant{}, fmt.Errorf("find the owner of %s: %v", slug, err)
	}
	p.ID = users[0].ID
	if _, err := db.CreateCollection(tctx, bulwark.Collection{Name: bench.Collection, Fields: benchFields}); err != nil {
		return bench.Tenant{}, err
	}
	tok, err := db.CreateToken(tctx, bulwark.NewAPIToken{Name: "bench", Grant: bulwark.Grant{Role: bulwark.RoleOwner}})
	if err != nil {
		return bench.Tenant{}, err
	}
	t := bench.Tenant{Slug: slug, Token: tok.Secret, Email: "owner@" + slug + ".example", Activation: inv.Token}
	for n := 0; n < records; n++ {
		r, err := db.CreateRecord(tctx, bench.Collection, bench.RecordBody(n))
		if err != nil {
			return bench.Tenant{}, err
		}
		t.Records = append(t.Records, r.ID)
	}
	return t, nil
}

const benchPassword = "bench password for the login scenario"

// prepareLogins activates the owners of up to 16 tenants through the API
// (Argon2id on the server), if the login scenario is to run.
func prepareLogins(ctx context.Context, e *env, sc *bench.Scenarios, names []string) error {
	want := false
	for _, n := range names {
		want = want || n == "login"
	}
	for i := range sc.Tenants {
		t := &sc.Tenants[i]
		if !want || i >= 16 {
			continue
		}
		body := map[string]string{"token": t.Activation, "password": benchPassword}
		if _, err := sc.C.Do(ctx, "POST", "/api/v1/auth/activate", "", nil, body, nil, http.StatusNoContent); err != nil {
			return fmt.Errorf("activate the owner of %s: %w", t.Slug, err)
		}
		t.Password = benchPassword
	}
	if want && len(sc.Tenants) > 16 {
		sc.Tenants = sc.Tenants[:16:16] // logins spread over the activated owners only
		fmt.Fprintln(e.stderr, "bench: note: login runs against the first 16 tenants only")
	}
	return nil
}

// bareOp starts the baseline server and returns its operation.
func bareOp(ctx context.Context, e *env, tmp string, conns, tenants int, cpuProfile string) (bench.Op, *os.Process, func(), error) {
	dir := filepath.Join(tmp, "baseline")
	args := []string{"bench", "baseline-server", "--data", dir, "--tenants", strconv.Itoa(tenants)}
	if cpuProfile != "" {
		args = append(args, "--cpu-profile", cpuProfile+".bare")
	}
	base, stop, proc, err := startChild(ctx, e, args...)
	if err != nil {
		return nil, nil, nil, err
	}
	client, err := bench.NewClient(base, filepath.Join(dir, "ca.pem"), conns)
	if err != nil {
		stop()
		return nil, nil, nil, err
	}
	numbers := bench.NewNumbers()
	return func(ctx context.Context, w int) error {
		_, err := client.Do(ctx, "POST", web.BaselinePath, "", nil, bench.RecordBody(numbers.Next(w)), nil, http.StatusCreated)
		return err
	}, proc, stop, nil
}

// peakRSS is the peak resident memory of process pid, from /proc (Linux).
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10, err
		}
	}
	return 0, errors.New("no VmHWM in /proc status")
}

// processCPU is the CPU time (user + system) process pid has used, from
// /proc (Linux); elsewhere it fails and the bench shows no CPU column.
func processCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// count fields after its closing one. utime and stime are fields 14
	// and 15, in clock ticks (USER_HZ, 100 on Linux).
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		return 0, errors.New("unexpected /proc stat format")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, errors.New("unexpected /proc stat format")
	}
	return time.Duration(utime+stime) * (time.Second / 100), nil
}

// runBenchBaseline serves the baseline for `bench`: a POST to
// web.BaselinePath writes the JSON body as a row, with the server code and
// durability of the real one.
func runBenchBaseline(ctx context.Context, e *env, args []string) int {
	c := newCommand("bench baseline-server", "bulwark bench baseline-server --data DIR [--tenants N]", "Serve the bare baseline for bulwark bench (used by bench itself).")
	dir := c.fs.String("data", "", "directory for the baseline's database and certificate")
	tenants := c.fs.Int("tenants", 10, "tenants the baseline's rows are spread over, one collection each, keyed as records are")
	cpuProfile := c.fs.String("cpu-profile", "", "write a CPU profile of the whole run to `FILE` (go tool pprof)")
	if _, code, ok := c.parse(e, args, 0); !ok {
		return code
	}
	if *dir == "" {
		return c.usageError(e, "--data is required")
	}
	if *tenants < 1 {
		return c.usageError(e, "--tenants must be at least 1")
	}
	stopProfile, err := startCPUProfile(*cpuProfile)
	if err != nil {
		return fail(e, "bench baseline-server", err)
	}
	defer stopProfile()
	if err := serveBaseline(ctx, e, *dir, *tenants); err != nil {
		return fail(e, "bench baseline-server", err)
	}
	return exitOK
}

func serveBaseline(ctx context.Context, e *env, dir string, tenants int) error {
	tuneGC() // as serve does, so that the comparison is fair
	if err := prepareDataDir(dir, true); err != nil {
		return err
	}
	certs, err := devcert.NewSource(dir, time.Now)
	if err != nil {
		return err
	}
	bs, err := store.OpenBaseline(ctx, "sqlite://"+filepath.Join(dir, "baseline.db"), tenants)
	if err != nil {
		return err
	}
	defer bs.Close()
	tlsCfg := web.TLSConfig()
	tlsCfg.GetCertificate = certs.GetCertificate
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := web.NewServer(ln.Addr().String(), web.Baseline(bs.Insert), tlsCfg)
	fmt.Fprintf(e.stdout, "Bulwark is serving %s\n", publicURL(ln.Addr().String()))
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

const benchPoolHelp = `Pool the rounds of several bench runs.

bench pool reads the JSON files that "bulwark bench --rounds N --json
FILE" wrote, takes all their rounds together and gives, as one run of
that many rounds would, each scenario's throughput and CPU per request
and the throughput ratios: the median of the rounds, its 95 % bound, the
quartiles and the whole spread. The median of many rounds, taken over
runs at different times, pins a ratio down better than any one run
(docs/performance.md, "Judging a ratio"). The runs must have measured the
same backend, tenants and records.`

// benchRun is what "bench --json" writes, and "bench pool" reads.
type benchRun struct {
	benchSetup
	Results []bench.Result   `json:"results"`
	Rounds  [][]bench.Result `json:"rounds,omitempty"` // with --rounds 2 or more
	Ratios  []bench.Ratio    `json:"ratios,omitempty"`
}

// benchSetup is what a run measured: runs pool only with their like.
type benchSetup struct {
	Backend        string `json:"backend"`
	Tenants        int    `json:"tenants"`
	Records        int    `json:"records"`
	CompareTenants int    `json:"compare_tenants,omitempty"`
	CompareRecords int    `json:"compare_records,omitempty"`
}

func runBenchPool(e *env, args []string) int {
	c := newCommand("bench pool", "bulwark bench pool [--json FILE] FILE...", benchPoolHelp)
	jsonOut := c.fs.String("json", "", "also write the pooled ratios to this JSON file")
	files, code, ok := c.parse(e, args, -1)
	if !ok {
		return code
	}
	if len(files) == 0 {
		return c.usageError(e, "name at least one JSON file written by bench --rounds N --json FILE")
	}
	var first benchSetup
	var rounds [][]bench.Result
	for i, f := range files {
		var run benchRun
		b, err := os.ReadFile(f)
		if err == nil {
			err = json.Unmarshal(b, &run)
		}
		if err != nil {
			return fail(e, "bench pool", fmt.Errorf("read %s: %w", f, err))
		}
		if len(run.Rounds) == 0 {
			return fail(e, "bench pool", fmt.Errorf("%s holds no rounds: write it with bench --rounds 2 or more and --json", f))
		}
		if i == 0 {
			first = run.benchSetup
		} else if run.benchSetup != first {
			return fail(e, "bench pool", fmt.Errorf("%s measured %s, %s measured %s: pool only runs of one setup", files[0], describeRun(first), f, describeRun(run.benchSetup)))
		}
		rounds = append(rounds, run.Rounds...)
	}
	targets := []*benchTarget{{}}
	if first.CompareTenants > 0 {
		targets = []*benchTarget{{label: "@" + strconv.Itoa(first.Tenants)}, {label: "@" + strconv.Itoa(first.CompareTenants)}}
	}
	var labels, names []string
	for _, r := range rounds[0] {
		labels = append(labels, r.Scenario)
		name := strings.TrimSuffix(strings.TrimSuffix(r.Scenario, targets[0].label), targets[len(targets)-1].label)
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	fmt.Fprintf(e.stdout, "%d rounds from %d runs: %s\n\n", len(rounds), len(files), describeRun(first))
	tw := tabwriter.NewWriter(e.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests\treq/s\tserver µs\tclient µs\t")
	for _, r := range mergeRounds(labels, rounds) {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.0f\t%.0f\t\n", r.Scenario, r.Requests, r.PerSecond, r.ServerCPUus, r.ClientCPUus)
	}
	tw.Flush()
	ratios := writeRatios(e, rounds, ratioPairs(names, targets))
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(map[string]any{"files": files, "rounds": len(rounds), "ratios": ratios}, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			return fail(e, "bench pool", err)
		}
	}
	return exitOK
}

func describeRun(r benchSetup) string {
	s := fmt.Sprintf("backend %s, %d tenants with %d records each", r.Backend, r.Tenants, r.Records)
	if r.CompareTenants > 0 {
		s += fmt.Sprintf(" against %d with %d", r.CompareTenants, r.CompareRecords)
	}
	return s
}
