package bulwark_test

import (
	"os/exec"
	"strings"
	"testing"
)

// deps lists the packages pkg imports, directly or not, as "path std".
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}} {{.Standard}}", pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// TestLayering guards the architecture (STYLE.md): the root package is the
// vocabulary and imports only the standard library; the web layer reaches
// data only through the root package's services, never database/sql or the
// store.
func TestLayering(t *testing.T) {
	for _, d := range deps(t, ".") {
		path, std, _ := strings.Cut(d, " ")
		if std != "true" && path != "github.com/bulwarkhq/bulwark" {
			t.Errorf("the root package imports %s, which is not in the standard library", path)
		}
	}
	for _, d := range deps(t, "./internal/web") {
		path, _, _ := strings.Cut(d, " ")
		if path == "database/sql" || strings.HasPrefix(path, "github.com/bulwarkhq/bulwark/internal/store") {
			t.Errorf("internal/web imports %s", path)
		}
	}
}
