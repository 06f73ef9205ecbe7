package main

import (
	"context"
	"fmt"
)

const operatorResetMFAHelp = `Remove an operator's authenticator app and end their sessions, for an
operator who lost their device. The operator's next login must enrol a new
second factor (operators always need one). Audited as privileged.`

func runOperatorResetMFA(ctx context.Context, e *env, args []string) int {
	cfg := DefaultConfig()
	c := newCommand("operator reset-mfa", "bulwark operator reset-mfa EMAIL [flags]", operatorResetMFAHelp)
	cfg.bind(c, "data", "db", "log-level")
	pos, code, ok := c.parse(e, args, 1)
	if !ok {
		return code
	}
	if err := cfg.load(c, e); err != nil {
		return c.configError(e, err)
	}
	db, err := openStore(ctx, &cfg, newLogger(e, cfg.LogLevel), false)
	if err != nil {
		return fail(e, "operator reset-mfa", err)
	}
	defer db.Close()
	if err := db.ResetOperatorMFA(systemContext(ctx), pos[0]); err != nil {
		return fail(e, "operator reset-mfa", err)
	}
	fmt.Fprintf(e.stdout, "The second factor of operator %s was removed and their sessions ended.\nAt the next login they enrol a new one.\n", pos[0])
	return exitOK
}
