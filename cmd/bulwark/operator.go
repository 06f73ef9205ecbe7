package main

import (
	"context"
	"fmt"

	"github.com/bulwarkhq/bulwark"
)

const operatorHelp = `Usage: bulwark operator <command> [arguments]

Manage the vendor's staff accounts. Operators run the deployment; they see
no tenant data.

Commands:

	create EMAIL      create an operator and print a one-time activation token
	reset-mfa EMAIL   remove a lost second factor; the operator enrols again

Run "bulwark operator create --help" for its flags.
`

func runOperator(ctx context.Context, e *env, args []string) int {
	return subcommands(e, "operator", operatorHelp, args, map[string]func([]string) int{
		"create":    func(args []string) int { return runOperatorCreate(ctx, e, args) },
		"reset-mfa": func(args []string) int { return runOperatorResetMFA(ctx, e, args) },
	})
}

const operatorCreateHelp = `Create an operator account and print its one-time activation token. The
operator chooses their own password with the token (POST
/api/v1/auth/activate); this command never takes or sets a password.`

func runOperatorCreate(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	c := newCommand("operator create", "bulwark operator create EMAIL [flags]", operatorCreateHelp)
	cfg.bind(c, "data", "db", "invite-ttl", "log-level")
	asJSON := c.fs.Bool("json", false, "print the operator and the token as JSON, for scripts")
	pos, code, ok := c.parse(e, args, 1)
	if !ok {
		return code
	}
	if err := cfg.load(c, e); err != nil {
		return c.configError(e, err)
	}
	db, err := openStore(ctx, &cfg, newLogger(e, cfg.LogLevel), false)
	if err != nil {
		return fail(e, "operator create", err)
	}
	defer db.Close()

	op, inv, err := db.CreateOperator(systemContext(ctx), pos[0])
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
	fmt.Fprintf(e.stdout, "Operator %s created (id %s).\n\n", op.Email, op.ID)
	printActivation(e.stdout, &cfg, op.Email, inv)
	return exitOK
}
