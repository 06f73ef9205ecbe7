package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/store"
)

const auditHelp = `Usage: bulwark audit <command> [arguments]

The tamper-evident audit log (DATA-5, DATA-6, DATA-7; see docs/audit.md).

Commands:

	public-key     print the public key that verifies the log's checkpoints
	               (--all: with the retired keys)
	rotate-key     replace the checkpoint signing key; the old public key
	               is kept as retired
	verify         verify the primary log and its agreement with the replica;
	               with --replica URL --public-key FILE, verify a replica alone
	verify-export FILE --public-key FILE
	               verify a tenant's export offline

Run "bulwark audit <command> --help" for its flags.
`

func runAudit(ctx context.Context, e *env, args []string) int {
	return subcommands(e, "audit", auditHelp, args, map[string]func([]string) int{
		"public-key":    func(args []string) int { return runAuditPublicKey(ctx, e, args) },
		"rotate-key":    func(args []string) int { return runAuditRotateKey(ctx, e, args) },
		"verify":        func(args []string) int { return runAuditVerify(ctx, e, args) },
		"verify-export": func(args []string) int { return runAuditVerifyExport(ctx, e, args) },
	})
}

// auditConfig is the audit log's part of the configuration. It has its
// own flags and BULWARK_AUDIT_* variables (flags win).
type auditConfig struct {
	// Replica is the gocloud.dev/blob URL of the replica sink. Default: a
	// separate directory in the data directory.
	Replica string
	// Origin is the log's name: the first line of every checkpoint and the
	// name in its public key.
	Origin string
	// StrictLag, when positive, refuses writes while the replica is
	// further behind (503).
	StrictLag time.Duration
}

const defaultAuditOrigin = "bulwark.local/audit"

func (ac *auditConfig) bind(c *command, replica, origin, strict bool) {
	if replica {
		c.fs.StringVar(&ac.Replica, "audit-replica", "", "the audit replica's blob `URL`: file:///DIR or s3://BUCKET?... (default file:///<data>/audit-replica)")
		c.env["audit-replica"] = "BULWARK_AUDIT_REPLICA"
	}
	if origin {
		c.fs.StringVar(&ac.Origin, "audit-origin", defaultAuditOrigin, "the audit log's `NAME`, the origin line of its checkpoints")
		c.env["audit-origin"] = "BULWARK_AUDIT_ORIGIN"
	}
	if strict {
		c.fs.DurationVar(&ac.StrictLag, "audit-strict-lag", 0, "refuse writes (503) while the audit replica is more than this `DURATION` behind; 0 = never")
		c.env["audit-strict-lag"] = "BULWARK_AUDIT_STRICT_LAG"
	}
}

// load applies BULWARK_AUDIT_* to the flags that were not given.
func (ac *auditConfig) load(c *command, e *env, dataDir string) error {
	if err := c.setFromEnv(e, "audit-replica", "audit-origin", "audit-strict-lag"); err != nil {
		return err
	}
	if ac.Replica == "" {
		abs, err := filepath.Abs(filepath.Join(dataDir, "audit-replica"))
		if err != nil {
			return err
		}
		ac.Replica = "file://" + filepath.ToSlash(abs) + "?create_dir=1&metadata=skip"
	}
	if ac.StrictLag < 0 {
		return errors.New("--audit-strict-lag must not be negative")
	}
	return nil
}

// Key files in the data directory. Until tenant and deployment keys are
// sealed by internal/keys, they are plain files with mode 0600 in the
// 0700 data directory.
func auditSigningKeyPath(dataDir string) string { return filepath.Join(dataDir, "audit-signing.key") }
func auditSealKeyPath(dataDir string) string    { return filepath.Join(dataDir, "audit-seal.key") }

// auditRuntime is the running audit pipeline of a serve process.
type auditRuntime struct {
	seq     *audit.Sequencer
	replica *audit.Replica
	done    chan struct{}
	cancel  context.CancelFunc
}

// startAudit wires the audit log into db and starts the sequencer: the
// sealer and strict-mode gate for every entry, the signing key, the
// replica, and the metrics.
func startAudit(ctx context.Context, cfg *Config, ac *auditConfig, db *store.DB, log *slog.Logger, reg *prometheus.Registry) (*auditRuntime, error) {
	ring, err := cfg.keyRing(ctx)
	if err != nil {
		return nil, err
	}
	sealKey, err := loadOrCreateAuditSealKey(ctx, ring, auditSealKeyPath(cfg.DataDir))
	if err != nil {
		return nil, fmt.Errorf("audit sealing key: %w", err)
	}
	sealer, err := audit.NewHMACSealer(sealKey)
	if err != nil {
		return nil, err
	}
	signer, err := loadOrCreateAuditSigner(ctx, ring, auditSigningKeyPath(cfg.DataDir), ac.Origin)
	if err != nil {
		return nil, fmt.Errorf("audit signing key: %w", err)
	}
	replica, err := audit.OpenReplica(ctx, ac.Replica)
	if err != nil {
		return nil, err
	}
	// The replica's checkpoints may be signed by keys rotate-key retired:
	// the sequencer checks them before it trusts them.
	vkeys, err := auditPublicKeys(auditSigningKeyPath(cfg.DataDir))
	if err != nil {
		replica.Close()
		return nil, err
	}
	verifier, err := audit.NewVerifier(vkeys...)
	if err != nil {
		replica.Close()
		return nil, fmt.Errorf("audit public keys: %w", err)
	}
	seq := audit.NewSequencer(db, signer, replica, audit.Options{StrictLag: ac.StrictLag, Logger: log, Verifier: verifier})
	db.SetAuditOptions(store.AuditOptions{Sealer: sealer, Gate: seq.Gate})
	if reg != nil {
		reg.MustRegister(seq.Collectors()...)
	}
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	rt := &auditRuntime{seq: seq, replica: replica, done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(rt.done)
		seq.Run(rctx)
	}()
	log.Info("audit log ready", "origin", signer.Origin(), "public_key", signer.PublicKey(), "replica", redactURL(ac.Replica))
	return rt, nil
}

// stop runs a last round, so entries acknowledged before shutdown are
// numbered and shipped, then stops the sequencer and gives up its lease,
// so a restarted process signs at once.
func (rt *auditRuntime) stop(ctx context.Context) {
	rt.cancel()
	<-rt.done
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rt.seq.Flush(sctx)
	rt.seq.Release(sctx)
	rt.replica.Close()
}

const auditPublicKeyHelp = `Print the public key that verifies the audit log's signed checkpoints, in
the signed-note verifier key format (origin+hash+key). Give it to
auditors and customers with "bulwark audit verify --public-key" and
"bulwark audit verify-export --public-key". The key pair is made on first
start of "bulwark serve" in the data directory (audit-signing.key, mode
0600: the private half sealed under the key-encryption key, the public half
in clear). With --all it prints, one per line, the current key and every
key "bulwark audit rotate-key" retired (newest first): checkpoints signed
before a rotation verify only with the keys of their time, so publish the
whole list.`

func runAuditPublicKey(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	var ac auditConfig
	c := newCommand("audit public-key", "bulwark audit public-key [flags]", auditPublicKeyHelp)
	cfg.bind(c, "data")
	ac.bind(c, false, true, false)
	all := c.fs.Bool("all", false, "print the retired keys too, one key per line, current first")
	if _, code, ok := c.parse(e, args, 0); !ok {
		return code
	}
	if err := cfg.load(c, e); err != nil {
		return c.configError(e, err)
	}
	if err := ac.load(c, e, cfg.DataDir); err != nil {
		return c.configError(e, err)
	}
	if err := prepareDataDir(cfg.DataDir, true); err != nil {
		return fail(e, "audit public-key", err)
	}
	vkeys, err := auditPublicKeys(auditSigningKeyPath(cfg.DataDir))
	if err != nil {
		return fail(e, "audit public-key", err)
	}
	if !*all {
		vkeys = vkeys[:1]
	}
	for _, k := range vkeys {
		fmt.Fprintln(e.stdout, k)
	}
	return exitOK
}

const auditRotateKeyHelp = `Replace the audit log's checkpoint signing key with a new Ed25519 key for
the same log (same origin), sealed under the key-encryption key like the
current one. The current public key is kept in audit-signing.key as
retired, so "bulwark audit verify" goes on verifying checkpoints signed
before the rotation. The rotation is recorded in the audit log
(audit.rotate_key, privileged). Restart "bulwark serve" afterwards: a
running server signs with the key it started with. Then publish the new
list ("bulwark audit public-key --all") to auditors and customers.`

func runAuditRotateKey(ctx context.Context, e *env, args []string) int {
	db, cfg, _, code, ok := keysCommand(ctx, e, "audit rotate-key", "bulwark audit rotate-key [flags]", auditRotateKeyHelp, args, nil)
	if !ok {
		return code
	}
	defer db.Close()
	ring, err := cfg.keyRing(ctx)
	if err != nil {
		return fail(e, "audit rotate-key", err)
	}
	vkey, old, err := rotateAuditSigner(ctx, ring, auditSigningKeyPath(cfg.DataDir), func(newKey, oldKey string) error {
		return db.RecordAuditKeyRotation(systemContext(ctx), newKey, oldKey)
	})
	if err != nil {
		return fail(e, "audit rotate-key", err)
	}
	fmt.Fprintf(e.stdout, "The audit log's checkpoints are now signed with\n\t%s\nretired (still verifies older checkpoints):\n\t%s\nRestart bulwark serve to sign with the new key, and publish \"bulwark audit public-key --all\".\n", vkey, old)
	return exitOK
}

const auditVerifyHelp = `Verify the audit log. Checks every checkpoint's signature, that checkpoints
of the same size agree, that the tree built from the entries has the root
each checkpoint signed (so successive checkpoints are consistent), that
every entry hashes to what the tree holds, and that nothing is missing,
moved or cut off.

Without --replica it reads the primary (the database) and the configured
replica, and checks that they agree; the public key comes from the data
directory unless --public-key is given.

With --replica URL --public-key FILE it verifies that replica alone, with no
access to the database: what an auditor holding the public key can do.
--public-key may be repeated, and a file may hold several keys, one per
line: after "bulwark audit rotate-key" the log's checkpoints were signed by
successive keys, and each must verify under one of those given. A
checkpoint signed by no given key fails (bad-signature) with its index.

On failure it names the first bad index and why (edited, missing,
reordered, truncated, forked, bad-signature, hash-altered, malformed: an
object in the replica that no shipment writes), prints both signed
checkpoints for a fork, and exits 1.`

func runAuditVerify(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	var ac auditConfig
	c := newCommand("audit verify", "bulwark audit verify [--replica URL --public-key FILE] [flags]", auditVerifyHelp)
	cfg.bind(c, "data", "db", "log-level")
	ac.bind(c, true, false, false)
	replicaOnly := c.fs.String("replica", "", "verify only the replica at this blob `URL`, without the database")
	var pubFiles fileList
	c.fs.Var(&pubFiles, "public-key", "a `FILE` of public keys, one per line; repeat for several (default: the current and retired keys of the data directory)")
	if _, code, ok := c.parse(e, args, 0); !ok {
		return code
	}
	if err := cfg.load(c, e); err != nil {
		return c.configError(e, err)
	}
	if err := ac.load(c, e, cfg.DataDir); err != nil {
		return c.configError(e, err)
	}
	if *replicaOnly != "" && len(pubFiles) == 0 {
		return c.usageError(e, "bulwark audit verify: --replica needs --public-key: a replica is checked against a key you trust, not one it carries")
	}
	v, err := loadVerifier(cfg.DataDir, pubFiles)
	if err != nil {
		return fail(e, "audit verify", err)
	}
	var sources []audit.Source
	replicaURL := ac.Replica
	if *replicaOnly != "" {
		replicaURL = *replicaOnly
	} else {
		db, err := openStore(ctx, &cfg, newLogger(e, cfg.LogLevel), false)
		if err != nil {
			return fail(e, "audit verify", err)
		}
		defer db.Close()
		sources = append(sources, db.AuditSource())
	}
	rep, err := audit.OpenReplica(ctx, strings.Replace(replicaURL, "create_dir=1", "", 1))
	if err != nil {
		return fail(e, "audit verify", err)
	}
	defer rep.Close()
	sources = append(sources, rep)
	start := time.Now()
	r, err := audit.Verify(ctx, v, sources...)
	if err != nil {
		return fail(e, "audit verify", err)
	}
	took := time.Since(start)
	if !r.OK() {
		printProblems(e, r)
		return exitError
	}
	if *replicaOnly != "" && r.Checkpoints == 0 {
		// A replica without a single signed checkpoint proves nothing: a
		// wrong URL, or a bucket emptied by someone, must not read as OK.
		fmt.Fprintf(e.stdout, "FAIL: the replica at %s holds no signed checkpoint: nothing to verify\n", redactURL(replicaURL))
		return exitError
	}
	fmt.Fprintf(e.stdout, "OK: %d checkpoints verify; the latest signs %d entries, root %s\n", r.Checkpoints, r.Size, r.Root)
	for _, s := range sources {
		fmt.Fprintf(e.stdout, "%-8s %d entries\n", s.Name()+":", r.Entries[s.Name()])
	}
	if n := r.Entries["primary"] - r.Entries["replica"]; *replicaOnly == "" && n > 0 {
		fmt.Fprintf(e.stdout, "The replica is %d entries behind the primary (shipping is asynchronous).\n", n)
	}
	var total int64
	for _, n := range r.Entries {
		total += n
	}
	fmt.Fprintf(e.stdout, "Verified %d entries in %s.\n", total, took.Round(time.Millisecond))
	return exitOK
}

func printProblems(e *env, r *audit.Report) {
	first := r.First()
	fmt.Fprintf(e.stdout, "FAIL: the first bad index is %d (%s, in the %s): %s\n", first.Index, first.Kind, first.Source, first.Detail)
	for _, n := range first.Notes {
		fmt.Fprintf(e.stdout, "\n%s", n)
	}
	if len(r.Problems) > 1 {
		fmt.Fprintf(e.stdout, "\n%d problems in all:\n", len(r.Problems))
		for i, p := range r.Problems {
			if i == 20 {
				fmt.Fprintf(e.stdout, "  ... and %d more\n", len(r.Problems)-20)
				break
			}
			fmt.Fprintf(e.stdout, "  %s\n", p)
		}
	}
}

func loadVerifier(dataDir string, pubFiles []string) (*audit.Verifier, error) {
	if len(pubFiles) > 0 {
		return audit.ReadVerifier(pubFiles...)
	}
	// Only the public halves are used: verification never needs a secret.
	vkeys, err := auditPublicKeys(auditSigningKeyPath(dataDir))
	if err != nil {
		return nil, fmt.Errorf("%w (or give --public-key FILE)", err)
	}
	return audit.NewVerifier(vkeys...)
}

// fileList is a repeatable flag naming files.
type fileList []string

func (l *fileList) String() string { return strings.Join(*l, ",") }

func (l *fileList) Set(v string) error {
	if v == "" {
		return errors.New("an empty file name")
	}
	*l = append(*l, v)
	return nil
}

const auditVerifyExportHelp = `Verify a tenant's audit export (GET /api/v1/audit/export) offline: the
signature of its checkpoint by one of the public keys (give the list that
"bulwark audit public-key --all" prints, in one file or several), and every
entry's inclusion proof against that checkpoint. No access to the
deployment is needed. With --tenant ID it also fails unless the export is
that tenant's: the export names its tenant itself, so a customer checking
that what they were given is theirs should give their tenant's id.`

func runAuditVerifyExport(ctx context.Context, e *env, args []string) int {
	c := newCommand("audit verify-export", "bulwark audit verify-export FILE --public-key FILE", auditVerifyExportHelp)
	var pubFiles fileList
	c.fs.Var(&pubFiles, "public-key", "a `FILE` of public keys, one per line; repeat for several (required)")
	tenant := c.fs.String("tenant", "", "fail unless the export is of the tenant with this `ID`")
	pos, code, ok := c.parse(e, args, 1)
	if !ok {
		return code
	}
	if len(pubFiles) == 0 {
		return c.usageError(e, "bulwark audit verify-export: --public-key is required")
	}
	v, err := audit.ReadVerifier(pubFiles...)
	if err != nil {
		return fail(e, "audit verify-export", err)
	}
	f, err := os.Open(pos[0])
	if err != nil {
		return fail(e, "audit verify-export", err)
	}
	defer f.Close()
	rep, err := audit.VerifyExport(f, v)
	if err == nil && *tenant != "" && rep.Tenant != *tenant {
		err = fmt.Errorf("the export is of tenant %s, not of %s", rep.Tenant, *tenant)
	}
	if err != nil {
		fmt.Fprintf(e.stdout, "FAIL: %v\n", err)
		return exitError
	}
	fmt.Fprintf(e.stdout, "OK: %d entries of tenant %s are in the log signed at size %d (root %s)\n",
		rep.Entries, rep.Tenant, rep.Checkpoint.Size, rep.Checkpoint.Root)
	return exitOK
}

// auditConfig returns the audit settings, the defaults when none were
// loaded (tests that call serve directly).
func (cfg *Config) auditConfig() *auditConfig {
	if cfg.audit == nil {
		ac := &auditConfig{Origin: defaultAuditOrigin}
		abs, _ := filepath.Abs(filepath.Join(cfg.DataDir, "audit-replica"))
		ac.Replica = "file://" + filepath.ToSlash(abs) + "?create_dir=1&metadata=skip"
		cfg.audit = ac
	}
	return cfg.audit
}
