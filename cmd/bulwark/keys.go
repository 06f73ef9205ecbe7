package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
	"github.com/bulwarkhq/bulwark/internal/store"
)

const keysHelp = `Usage: bulwark keys <command> [arguments]

Encryption keys (DATA-3, DATA-4; see docs/encryption.md). Each tenant has a
data keyset (AES256-GCM, seals confidential, personal and secret values) and
an index keyset (HMAC-SHA256, blind indexes), wrapped by the key-encryption
key (KEK, --kek) and bound to the environment (--env).

Commands:

	list                   the key inventory: every tenant's keys, their
	                       status, creation and last rotation
	rotate --tenant SLUG   make a new primary data key for a tenant and
	                       re-seal its values under it, with progress;
	                       --resume continues an interrupted re-seal
	rotate-kek             re-wrap every tenant keyset under a new KEK
	                       version (no data is touched); --retire disables
	                       the old versions afterwards

Run "bulwark keys <command> --help" for its flags.
`

func runKeys(ctx context.Context, e *env, args []string) int {
	return subcommands(e, "keys", keysHelp, args, map[string]func([]string) int{
		"list":       func(args []string) int { return runKeysList(ctx, e, args) },
		"rotate":     func(args []string) int { return runKeysRotate(ctx, e, args) },
		"rotate-kek": func(args []string) int { return runKeysRotateKEK(ctx, e, args) },
	})
}

// DefaultEnv is the environment of a fresh setup.
const DefaultEnv = "development"

// keysConfig is the encryption part of the configuration: its own flags
// and variables (BULWARK_ENV, BULWARK_KEK; flags win).
type keysConfig struct {
	// Env is bound into every wrap and seal: data sealed in one
	// environment does not open in another (DATA-4).
	Env string
	// KEK is the keeper's URL (keys.OpenKeeper). Default
	// file://<data>/kek.json, created on first use with mode 0600.
	KEK string
	// CacheTTL is how long unwrapped tenant keys are used without asking
	// the keeper again (during a KMS outage, how long tenants go on).
	CacheTTL time.Duration

	ring *keys.Ring
}

func (kc *keysConfig) bind(c *command) {
	c.fs.StringVar(&kc.Env, "env", DefaultEnv, "the environment `NAME` bound into every key (production, staging, development, ...): data sealed in one environment cannot be opened in another")
	c.env["env"] = "BULWARK_ENV"
	c.fs.StringVar(&kc.KEK, "kek", "", "the key-encryption key `URL`: file:///PATH/kek.json, awskms://ARN, gcpkms://projects/..., hcvault://HOST/transit/keys/NAME (default file://<data>/kek.json)")
	c.env["kek"] = "BULWARK_KEK"
	c.fs.DurationVar(&kc.CacheTTL, "key-cache-ttl", keys.DefaultTTL, "how long unwrapped tenant keys are cached (`DURATION`); during a KMS outage, cached tenants keep working this long")
	c.env["key-cache-ttl"] = "BULWARK_KEY_CACHE_TTL"
}

// load applies the environment variables to the flags not given, fills
// the default KEK URL and validates.
func (kc *keysConfig) load(c *command, e *env, dataDir string) error {
	if err := c.setFromEnv(e, "env", "kek", "key-cache-ttl"); err != nil {
		return err
	}
	if err := keys.ValidEnv(kc.Env); err != nil {
		return fmt.Errorf("--env %q: %s", kc.Env, bulwark.ErrorMessage(err))
	}
	if kc.KEK == "" {
		kc.KEK = defaultKEK(dataDir)
	}
	if kc.CacheTTL <= 0 {
		return errors.New("--key-cache-ttl must be positive")
	}
	return nil
}

// defaultKEK is the KEK URL used when none is given: a key file in the
// data directory.
func defaultKEK(dataDir string) string {
	return "file://" + filepath.ToSlash(filepath.Join(dataDir, "kek.json"))
}

// defaultKeys is the keys configuration of a process that gives no key
// flags: the default environment and KEK file of dataDir.
func defaultKeys(dataDir string) *keysConfig {
	return &keysConfig{Env: DefaultEnv, KEK: defaultKEK(dataDir), CacheTTL: keys.DefaultTTL}
}

// open opens the keeper (creating the KEK file on first use) and the ring.
func (kc *keysConfig) open(ctx context.Context) (*keys.Ring, error) {
	if kc.ring != nil {
		return kc.ring, nil
	}
	k, err := keys.OpenKeeper(ctx, kc.KEK)
	if err != nil {
		return nil, fmt.Errorf("open the key-encryption key %s: %w", kc.KEK, err)
	}
	r, err := keys.NewRing(k, keys.RingOptions{Env: kc.Env, TTL: kc.CacheTTL})
	if err != nil {
		return nil, err
	}
	kc.ring = r
	return r, nil
}

// keyRing opens cfg's ring when the command has key settings; commands
// without them get none, and the store refuses what needs keys.
func (cfg *Config) keyRing(ctx context.Context) (*keys.Ring, error) {
	if cfg.keys == nil {
		return nil, nil
	}
	return cfg.keys.open(ctx)
}

// keysCommand is the common setup of the keys commands.
func keysCommand(ctx context.Context, e *env, name, synopsis, help string, args []string, extra func(c *command)) (*store.DB, *Config, []string, int, bool) {
	cfg := DefaultConfig()
	var kc keysConfig
	c := newCommand(name, synopsis, help)
	cfg.bind(c, "data", "db", "log-level")
	kc.bind(c)
	if extra != nil {
		extra(c)
	}
	pos, code, ok := c.parse(e, args, 0)
	if !ok {
		return nil, nil, nil, code, false
	}
	if err := cfg.load(c, e); err != nil {
		return nil, nil, nil, c.configError(e, err), false
	}
	if err := kc.load(c, e, cfg.DataDir); err != nil {
		return nil, nil, nil, c.configError(e, err), false
	}
	cfg.keys = &kc
	db, err := openStore(ctx, &cfg, newLogger(e, cfg.LogLevel), false)
	if err != nil {
		return nil, nil, nil, fail(e, name, err), false
	}
	return db, &cfg, pos, exitOK, true
}

const keysListHelp = `List the key inventory: for every tenant, its data and index keysets with
their algorithm, status (active, or rotating while a re-seal runs), the
environment they are bound to, the KEK version that wraps them, and each
key's id, status (primary, enabled, disabled) and creation time. No key
material is shown; the list works without the KMS.`

func runKeysList(ctx context.Context, e *env, args []string) int {
	var asJSON *bool
	db, _, _, code, ok := keysCommand(ctx, e, "keys list", "bulwark keys list [flags]", keysListHelp, args, func(c *command) {
		asJSON = c.fs.Bool("json", false, "print the inventory as JSON, for scripts")
	})
	if !ok {
		return code
	}
	defer db.Close()
	ks, err := db.ListKeys(systemContext(ctx))
	if err != nil {
		return fail(e, "keys list", err)
	}
	if *asJSON {
		if err := writeJSON(e.stdout, ks); err != nil {
			return fail(e, "keys list", err)
		}
		return exitOK
	}
	if len(ks) == 0 {
		fmt.Fprintln(e.stdout, "No tenant keys yet: they are made with each tenant (bulwark tenant create).")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TENANT\tPURPOSE\tALGORITHM\tSTATUS\tENV\tKEYS\tCREATED\tLAST ROTATION\tRE-SEAL")
	for _, k := range ks {
		var ids []string
		for _, v := range k.Keys {
			s := fmt.Sprintf("%d:%s", v.ID, v.Status)
			if v.CreatedAt != nil {
				s += "@" + v.CreatedAt.UTC().Format("2006-01-02")
			}
			ids = append(ids, s)
		}
		rotated := "never"
		if k.RotatedAt != nil {
			rotated = k.RotatedAt.UTC().Format(timeFormat)
		}
		reseal := "-"
		if r := k.Reseal; r != nil {
			reseal = fmt.Sprintf("%d/%d", r.Done, r.Total)
			if r.FinishedAt != nil {
				reseal += " done"
			} else {
				reseal += " running"
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.TenantSlug, k.Purpose, k.Algorithm, k.Status, k.Env,
			strings.Join(ids, " "), k.CreatedAt.UTC().Format(timeFormat), rotated, reseal)
	}
	if err := tw.Flush(); err != nil {
		return fail(e, "keys list", err)
	}
	fmt.Fprintf(e.stdout, "\nKEK: %s\n", ks[0].KEK)
	return exitOK
}

const keysRotateHelp = `Rotate a tenant's data key: make a new primary key, so that every new value
is sealed under it at once, then re-seal the tenant's existing values under
it, batch by batch, printing progress. The server keeps serving meanwhile:
values under the old key still open until they are moved. When every value
has moved, the old key is disabled.

If this command is interrupted (Ctrl-C, a crash), run it again with
--resume: the re-seal continues where it stopped. A running server also
finishes unfinished re-seals by itself. Needs the KMS.`

func runKeysRotate(ctx context.Context, e *env, args []string) int {
	var slug *string
	var resume *bool
	db, _, _, code, ok := keysCommand(ctx, e, "keys rotate", "bulwark keys rotate --tenant SLUG [--resume] [flags]", keysRotateHelp, args, func(c *command) {
		slug = c.fs.String("tenant", "", "the `SLUG` of the tenant whose data key rotates (required)")
		resume = c.fs.Bool("resume", false, "continue an interrupted re-seal instead of making another new key")
	})
	if !ok {
		return code
	}
	defer db.Close()
	if *slug == "" {
		fmt.Fprintln(e.stderr, "bulwark keys rotate: --tenant is required")
		return exitUsage
	}
	sys := systemContext(ctx)
	if !*resume {
		if r := pendingReseal(sys, db, *slug); r != nil {
			fmt.Fprintf(e.stderr, "bulwark keys rotate: tenant %s has an unfinished re-seal (%d of %d records, started %s): finish it first with --resume\n",
				*slug, r.Done, r.Total, r.StartedAt.UTC().Format(timeFormat))
			return exitError
		}
		p, err := db.RotateTenantKey(sys, *slug)
		if err != nil {
			return fail(e, "keys rotate", err)
		}
		fmt.Fprintf(e.stdout, "Tenant %s: new primary data key; new values are sealed under it. Re-sealing %d records.\n", *slug, p.Total)
	} else {
		fmt.Fprintf(e.stdout, "Tenant %s: resuming the re-seal.\n", *slug)
	}
	start := time.Now()
	err := db.Reseal(sys, *slug, func(p bulwark.ResealProgress) {
		fmt.Fprintf(e.stdout, "re-sealed %d/%d records\n", p.Done, p.Total)
	})
	if err != nil {
		fmt.Fprintln(e.stdout, "Interrupted: run the same command with --resume to continue.")
		return fail(e, "keys rotate", err)
	}
	fmt.Fprintf(e.stdout, "Done in %s: every value is under the new key; keys no longer used are disabled.\n", time.Since(start).Round(time.Millisecond))
	return exitOK
}

func pendingReseal(ctx context.Context, db *store.DB, slug string) *bulwark.ResealProgress {
	ks, err := db.ListKeys(ctx)
	if err != nil {
		return nil
	}
	for _, k := range ks {
		if k.TenantSlug == slug && k.Reseal != nil && k.Reseal.FinishedAt == nil {
			return k.Reseal
		}
	}
	return nil
}

const keysRotateKEKHelp = `Rotate the key-encryption key: re-wrap every tenant keyset under a new KEK
version, and seal operators' TOTP secrets and the data directory's audit
keys (--data) again under it. Data is not touched; the server keeps serving
(it notices the new wrapping at its next transaction), and tenants it
creates meanwhile are re-wrapped too.

With the key file (file://), a new key is added to the file and becomes
primary; the older ones stay so that keysets not yet re-wrapped still open.
If a previous run was interrupted, this run resumes it instead of making
another version. With a KMS or Vault, rotate the key in the service (or
let it rotate on its schedule) and run this to re-wrap under its current
version.

--retire disables the older KEK versions once every keyset is re-wrapped:
copies of the database made before (backups!) then no longer open. Retire
only after your backup retention has passed, or on purpose. Nothing is
disabled while anything is still wrapped or sealed by an older version:
the command then fails; run it again once the cause is fixed.`

func runKeysRotateKEK(ctx context.Context, e *env, args []string) int {
	var retire *bool
	db, cfg, _, code, ok := keysCommand(ctx, e, "keys rotate-kek", "bulwark keys rotate-kek [--retire] [flags]", keysRotateKEKHelp, args, func(c *command) {
		retire = c.fs.Bool("retire", false, "disable older KEK versions after re-wrapping (file KEK only)")
	})
	if !ok {
		return code
	}
	defer db.Close()
	ring, err := cfg.keyRing(ctx)
	if err != nil {
		return fail(e, "keys rotate-kek", err)
	}
	res, err := db.RotateKEK(systemContext(ctx), *retire, func(r store.KEKRotation) {
		fmt.Fprintf(e.stdout, "re-wrapped %d/%d keysets\n", r.Rewrapped, r.Total)
	}, auditKeyFiles(ring, cfg.DataDir)...)
	if err != nil {
		return fail(e, "keys rotate-kek", err)
	}
	if res.Rotated {
		fmt.Fprintf(e.stdout, "New KEK version %s.\n", res.KEK)
	} else {
		fmt.Fprintf(e.stdout, "Re-wrapping under KEK %s (an interrupted rotation resumed, or the KMS rotates its key itself).\n", res.KEK)
	}
	fmt.Fprintf(e.stdout, "Done: %d keysets re-wrapped.\n", res.Rewrapped)
	if res.Retired {
		fmt.Fprintln(e.stdout, "Older KEK versions are disabled.")
	}
	return exitOK
}
