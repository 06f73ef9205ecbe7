//go:build !benchhook

package main

import (
	"errors"
	"os"
)

// benchHook is true only in builds with -tags benchhook (benchhook.go).
const benchHook = false

func setServerAudit(*os.Process, bool) error {
	return errors.New("switching the audit log off needs a build with -tags benchhook")
}
