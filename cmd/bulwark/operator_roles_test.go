package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestOperatorRolesCommand: operator create needs known roles (deny by
// default: no --role is a usage error), and operator roles replaces them;
// unknown operators and roles are refused without a change (PRIV-1).
func TestOperatorRolesCommand(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	vars := map[string]string{"BULWARK_DATA": data, "BULWARK_LOG_LEVEL": "error"}
	if r := runCmd(t, vars, "migrate"); r.code != exitOK {
		t.Fatalf("migrate: %s", r.stderr)
	}
	for _, args := range [][]string{
		{"operator", "create", "ops@vendor.example"},
		{"operator", "create", "ops@vendor.example", "--role", "support"},
		{"operator", "create", "ops@vendor.example", "--role", "admin,admin"},
		{"operator", "create", "ops@vendor.example", "--role", ""},
		{"operator", "roles", "ops@vendor.example"},
		{"operator", "roles", "ops@vendor.example", "--role", "root"},
	} {
		if r := runCmd(t, vars, args...); r.code != exitUsage {
			t.Errorf("%v: exit %d, want %d", args, r.code, exitUsage)
		}
	}
	if r := runCmd(t, vars, "operator", "create", "ops@vendor.example", "--role", "admin"); r.code != exitOK || !strings.Contains(r.stdout, "roles: admin") {
		t.Fatalf("create: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
	if r := runCmd(t, vars, "operator", "roles", "nobody@vendor.example", "--role", "admin"); r.code != exitError {
		t.Errorf("roles of a missing operator: exit %d", r.code)
	}
	r := runCmd(t, vars, "operator", "roles", "ops@vendor.example", "--role", "security", "--role", "admin")
	if r.code != exitOK || !strings.Contains(r.stdout, "admin, security") {
		t.Fatalf("roles: exit %d, %s %s", r.code, r.stdout, r.stderr)
	}
}
