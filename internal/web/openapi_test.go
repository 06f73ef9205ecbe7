package web

import (
	"bufio"
	"bytes"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/docs"
)

// openAPIOperations reads "METHOD /path" for every operation under paths:
// in the OpenAPI document. The document is indented by two spaces per
// level, which this reader relies on (and so checks).
func openAPIOperations(t *testing.T, doc []byte) []string {
	t.Helper()
	pathRE := regexp.MustCompile(`^  (/\S*):\s*$`)
	methodRE := regexp.MustCompile(`^    (get|put|post|delete|options|head|patch|trace):\s*$`)
	var ops []string
	var inPaths bool
	var path string
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "paths:":
			inPaths = true
		case inPaths && line != "" && line[0] != ' ' && line[0] != '#':
			inPaths = false
		case !inPaths:
		case pathRE.MatchString(line):
			path = pathRE.FindStringSubmatch(line)[1]
		case methodRE.MatchString(line):
			if path == "" {
				t.Fatalf("operation outside a path: %q", line)
			}
			ops = append(ops, strings.ToUpper(methodRE.FindStringSubmatch(line)[1])+" "+path)
		}
	}
	if len(ops) == 0 {
		t.Fatal("no operations found in openapi.yaml")
	}
	return ops
}

// TestOpenAPIMatchesRoutes: the published description and the route table
// list exactly the same operations.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	documented := openAPIOperations(t, docs.OpenAPI)
	var served []string
	for _, rt := range New(Deps{}).routes {
		served = append(served, rt.pattern())
	}
	for _, op := range served {
		if !slices.Contains(documented, op) {
			t.Errorf("route %s is not in docs/openapi.yaml", op)
		}
	}
	for _, op := range documented {
		if !slices.Contains(served, op) {
			t.Errorf("docs/openapi.yaml documents %s, which is not served", op)
		}
	}
	slices.Sort(documented)
	if d := slices.Compact(slices.Clone(documented)); len(d) != len(documented) {
		t.Error("docs/openapi.yaml documents an operation twice")
	}
}

// TestOpenAPIPublicOperations: the document marks as needing no security
// (security: []) exactly the public routes.
func TestOpenAPIPublicOperations(t *testing.T) {
	var public []string
	var path, op string
	for _, line := range strings.Split(string(docs.OpenAPI), "\n") {
		if m := regexp.MustCompile(`^  (/\S*):$`).FindStringSubmatch(line); m != nil {
			path = m[1]
		}
		if m := regexp.MustCompile(`^    (get|post|patch|delete):$`).FindStringSubmatch(line); m != nil {
			op = strings.ToUpper(m[1]) + " " + path
		}
		if strings.TrimSpace(line) == "security: []" && strings.HasPrefix(line, "      ") {
			public = append(public, op)
		}
	}
	var want []string
	for _, rt := range New(Deps{}).routes {
		if rt.access.kind == accessPublic {
			want = append(want, rt.pattern())
		}
	}
	slices.Sort(public)
	slices.Sort(want)
	if !slices.Equal(public, want) {
		t.Errorf("openapi.yaml public operations = %q, want %q", public, want)
	}
}
