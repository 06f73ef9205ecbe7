package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/store"
)

const operatorHelp = `Usage: bulwark operator <command> [arguments]

Manage the vendor's staff accounts. Operators run the deployment; they see
no tenant data. Each holds one or more roles (PRIV-1): admin (tenants,
keys, operators) and security (the cross-tenant audit search); every
operator route needs its role.

Commands:

	create EMAIL --role ROLE   create an operator and print a one-time activation token
	roles EMAIL --role ROLE    replace an operator's roles (audited, privileged)
	reset-mfa EMAIL            remove a lost second factor; the operator enrols again

Run "bulwark operator create --help" for its flags.
`

func runOperator(ctx context.Context, e *env, args []string) int {
	return subcommands(e, "operator", operatorHelp, args, map[string]func([]string) int{
		"create":    func(args []string) int { return runOperatorCreate(ctx, e, args) },
		"roles":     func(args []string) int { return runOperatorRoles(ctx, e, args) },
		"reset-mfa": func(args []string) int { return runOperatorResetMFA(ctx, e, args) },
	})
}

const operatorCreateHelp = `Create an operator account with its roles and print its one-time activation
token. The operator chooses their own password with the token (POST
/api/v1/auth/activate); this command never takes or sets a password.
--role is required (deny by default): admin, security, or both (repeat the
flag or separate with commas).`

func runOperatorCreate(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	c := newCommand("operator create", "bulwark operator create EMAIL --role ROLE [flags]", operatorCreateHelp)
	cfg.bind(c, "data", "db", "invite-ttl", "log-level")
	asJSON := c.fs.Bool("json", false, "print the operator and the token as JSON, for scripts")
	email, roles, db, code, ok := openRoleCommand(ctx, e, c, &cfg, args)
	if !ok {
		return code
	}
	defer db.Close()

	op, inv, err := db.CreateOperator(systemContext(ctx), email, roles...)
	if err != nil {
		return fail(e, "operator create", err)
	}
	if *asJSON {
		out := struct {
			Operator *bulwark.Operator `json:"operator"`
			Token    string            `json:"activation_token"`
			Expires  string            `json:"expires_at"`
		}{op, inv.Token, inv.ExpiresAt.UTC().Format(timeFormat)}
		if err := writeJSON(e.stdout, out); err != nil {
			return fail(e, "operator create", err)
		}
		return exitOK
	}
	fmt.Fprintf(e.stdout, "Operator %s created (id %s), roles: %s.\n\n", op.Email, op.ID, joinOperatorRoles(op.Roles))
	printActivation(e.stdout, &cfg, op.Email, inv)
	return exitOK
}

const operatorRolesHelp = `Replace an operator's roles with those given: admin (tenants, keys,
operators), security (the cross-tenant audit search), or both. The change
takes effect at the operator's next request and is recorded in the audit
log as a privileged entry (operator.roles).`

func runOperatorRoles(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	c := newCommand("operator roles", "bulwark operator roles EMAIL --role ROLE [flags]", operatorRolesHelp)
	cfg.bind(c, "data", "db", "log-level")
	email, roles, db, code, ok := openRoleCommand(ctx, e, c, &cfg, args)
	if !ok {
		return code
	}
	defer db.Close()
	op, err := db.SetOperatorRoles(systemContext(ctx), email, roles)
	if err != nil {
		return fail(e, "operator roles", err)
	}
	fmt.Fprintf(e.stdout, "Operator %s now has the roles: %s.\n", op.Email, joinOperatorRoles(op.Roles))
	return exitOK
}

// openRoleCommand adds the --role flag to c, parses args (one EMAIL),
// checks the roles and opens the store, which the caller closes. With ok
// false the command ends with code.
func openRoleCommand(ctx context.Context, e *env, c *command, cfg *Config, args []string) (email string, roles roleList, db *store.DB, code int, ok bool) {
	c.fs.Var(&roles, "role", "an operator `ROLE`: admin or security; repeat or separate with commas (required)")
	pos, code, ok := c.parse(e, args, 1)
	if !ok {
		return "", nil, nil, code, false
	}
	if err := bulwark.CheckOperatorRoles("--role", roles); err != nil {
		return "", nil, nil, c.usageError(e, "bulwark %s: %s", c.fs.Name(), bulwark.ErrorMessage(err)), false
	}
	if err := cfg.load(c, e); err != nil {
		return "", nil, nil, c.configError(e, err), false
	}
	db, err := openStore(ctx, cfg, newLogger(e, cfg.LogLevel), false)
	if err != nil {
		return "", nil, nil, fail(e, c.fs.Name(), err), false
	}
	return pos[0], roles, db, exitOK, true
}

// roleList is a repeatable --role flag; a value may also list roles
// separated by commas.
type roleList []bulwark.OperatorRole

func (l *roleList) String() string { return joinOperatorRoles(*l) }

func (l *roleList) Set(v string) error {
	for _, r := range strings.Split(v, ",") {
		*l = append(*l, bulwark.OperatorRole(strings.TrimSpace(r)))
	}
	return nil
}

func joinOperatorRoles(roles []bulwark.OperatorRole) string {
	if len(roles) == 0 {
		return "none"
	}
	s := make([]string, len(roles))
	for i, r := range roles {
		s[i] = string(r)
	}
	return strings.Join(s, ", ")
}
