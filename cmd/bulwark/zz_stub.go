// Temporary: the server wiring lands with internal/auth (see serve.go).

package main

import (
	"context"
	"errors"
)

func serve(ctx context.Context, e *env, cfg *Config) error {
	if err := prepareDataDir(cfg.DataDir, true); err != nil {
		return err
	}
	return errors.New("not wired yet")
}
