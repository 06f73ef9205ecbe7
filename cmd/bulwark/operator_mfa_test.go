package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestOperatorResetMFA(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"BULWARK_DATA": data, "BULWARK_LOG_LEVEL": "error"}
	if r := runCmd(t, vars, "migrate"); r.code != exitOK {
		t.Fatalf("migrate: %s", r.stderr)
	}
	if r := runCmd(t, vars, "operator", "create", "ops@vendor.example", "--role", "admin"); r.code != exitOK {
		t.Fatalf("create: %s", r.stderr)
	}
	r := runCmd(t, vars, "operator", "reset-mfa", "ops@vendor.example")
	if r.code != exitOK || !strings.Contains(r.stdout, "enrol a new one") {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := runCmd(t, vars, "operator", "reset-mfa", "nobody@vendor.example"); r.code != exitError {
		t.Fatalf("unknown operator: exit %d", r.code)
	}
	if r := runCmd(t, vars, "operator", "reset-mfa"); r.code != exitUsage {
		t.Fatalf("no email: exit %d", r.code)
	}
}
