package main

import (
	"context"
	"fmt"
	"text/tabwriter"

	"github.com/bulwarkhq/bulwark"
)

const tenantHelp = `Usage: bulwark tenant <command> [arguments]

Manage tenants: the customers of the company that runs Bulwark.

Commands:

	create SLUG --name NAME --admin-email EMAIL
	               create a tenant and its first owner, and print the owner's
	               one-time activation token
	list           list tenants
	delete SLUG --confirm SLUG
	               delete a tenant and all its data, destroying its keys first
	               (crypto-shredding)

Run "bulwark tenant <command> --help" for its flags.
`

func runTenant(ctx context.Context, e *env, args []string) int {
	return subcommands(e, "tenant", tenantHelp, args, map[string]func([]string) int{
		"create": func(args []string) int { return runTenantCreate(ctx, e, args) },
		"list":   func(args []string) int { return runTenantList(ctx, e, args) },
		"delete": func(args []string) int { return runTenantDelete(ctx, e, args) },
	})
}

const tenantCreateHelp = `Create a tenant with its first user, who gets the owner role, and print the
owner's one-time activation token. The owner chooses their own password with
the token (POST /api/v1/auth/activate); this command never takes or sets a
password. SLUG names the tenant at login: 2-63 lowercase letters, digits or
'-'.`

// timeFormat is how the command line prints times.
const timeFormat = "2006-01-02T15:04:05Z07:00"

func runTenantCreate(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	c := newCommand("tenant create", "bulwark tenant create SLUG --name NAME --admin-email EMAIL [flags]", tenantCreateHelp)
	name := c.fs.String("name", "", "the tenant's display `NAME` (required)")
	email := c.fs.String("admin-email", "", "the `EMAIL` of the tenant's first owner (required)")
	cfg.bind(c, "data", "db", "invite-ttl", "log-level")
	var kc keysConfig // the tenant's keys are made with it
	kc.bind(c)
	asJSON := c.fs.Bool("json", false, "print the tenant and the token as JSON, for scripts")
	pos, code, ok := c.parse(e, args, 1)
	if !ok {
		return code
	}
	if *name == "" || *email == "" {
		return c.usageError(e, "bulwark tenant create: --name and --admin-email are required")
	}
	if err := cfg.load(c, e); err != nil {
		return c.configError(e, err)
	}
	if err := kc.load(c, e, cfg.DataDir); err != nil {
		return c.configError(e, err)
	}
	cfg.keys = &kc
	if norm, err := bulwark.NormalizeEmail("admin-email", *email); err == nil {
		*email = norm
	}
	db, err := openStore(ctx, &cfg, newLogger(e, cfg.LogLevel), false)
	if err != nil {
		return fail(e, "tenant create", err)
	}
	defer db.Close()

	t, inv, err := db.CreateTenant(systemContext(ctx), bulwark.NewTenant{Slug: pos[0], Name: *name, AdminEmail: *email})
	if err != nil {
		return fail(e, "tenant create", err)
	}
	if *asJSON {
		out := struct {
			Tenant     *bulwark.Tenant `json:"tenant"`
			AdminEmail string          `json:"admin_email"`
			Token      string          `json:"activation_token"`
			Expires    string          `json:"expires_at"`
		}{t, *email, inv.Token, inv.ExpiresAt.UTC().Format(timeFormat)}
		if err := writeJSON(e.stdout, out); err != nil {
			return fail(e, "tenant create", err)
		}
		return exitOK
	}
	fmt.Fprintf(e.stdout, "Tenant %s (%s) created (id %s).\n\n", t.Slug, t.Name, t.ID)
	printActivation(e.stdout, &cfg, "the owner "+*email, inv)
	fmt.Fprintf(e.stdout, "Then log in with POST /api/v1/auth/login and {\"tenant\": %q, \"email\": %q, \"password\": \"...\"}.\n", t.Slug, *email)
	return exitOK
}

func runTenantList(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	c := newCommand("tenant list", "bulwark tenant list [flags]", "List every tenant: slug, name, id and when it was created.")
	cfg.bind(c, "data", "db", "log-level")
	asJSON := c.fs.Bool("json", false, "print the tenants as a JSON array, for scripts")
	if _, code, ok := c.parse(e, args, 0); !ok {
		return code
	}
	if err := cfg.load(c, e); err != nil {
		return c.configError(e, err)
	}
	db, err := openStore(ctx, &cfg, newLogger(e, cfg.LogLevel), false)
	if err != nil {
		return fail(e, "tenant list", err)
	}
	defer db.Close()

	ts, err := db.ListTenants(systemContext(ctx))
	if err != nil {
		return fail(e, "tenant list", err)
	}
	if *asJSON {
		if ts == nil {
			ts = []*bulwark.Tenant{}
		}
		if err := writeJSON(e.stdout, ts); err != nil {
			return fail(e, "tenant list", err)
		}
		return exitOK
	}
	if len(ts) == 0 {
		fmt.Fprintln(e.stdout, "No tenants yet. Create one with: bulwark tenant create SLUG --name NAME --admin-email EMAIL")
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SLUG\tNAME\tID\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.Slug, t.Name, t.ID, t.CreatedAt.UTC().Format(timeFormat))
	}
	if err := tw.Flush(); err != nil {
		return fail(e, "tenant list", err)
	}
	return exitOK
}

const tenantDeleteHelp = `Delete a tenant and all its data. Its keysets are destroyed first
(crypto-shredding, DATA-3): every value it ever sealed, wherever a copy of
the ciphertext survives (an old backup, a copy of the database file), can
no longer be opened. Audit entries, which hold no values, stay. There is no
undo: --confirm must repeat the slug.`

func runTenantDelete(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	c := newCommand("tenant delete", "bulwark tenant delete SLUG --confirm SLUG [flags]", tenantDeleteHelp)
	confirm := c.fs.String("confirm", "", "the tenant's `SLUG` again, to confirm (required)")
	cfg.bind(c, "data", "db", "log-level")
	var kc keysConfig
	kc.bind(c)
	pos, code, ok := c.parse(e, args, 1)
	if !ok {
		return code
	}
	if *confirm != pos[0] {
		return c.usageError(e, "bulwark tenant delete: deleting destroys the tenant's data for good; repeat its slug with --confirm %s", pos[0])
	}
	if err := cfg.load(c, e); err != nil {
		return c.configError(e, err)
	}
	if err := kc.load(c, e, cfg.DataDir); err != nil {
		return c.configError(e, err)
	}
	cfg.keys = &kc
	db, err := openStore(ctx, &cfg, newLogger(e, cfg.LogLevel), false)
	if err != nil {
		return fail(e, "tenant delete", err)
	}
	defer db.Close()
	if err := db.DeleteTenant(systemContext(ctx), pos[0]); err != nil {
		return fail(e, "tenant delete", err)
	}
	fmt.Fprintf(e.stdout, "Tenant %s deleted; its keys are destroyed, so no copy of its sealed data can be opened.\n", pos[0])
	return exitOK
}
