package sso

import (
	"slices"
	"strings"
	"testing"
)

// SAML: every value of the configured group attribute reaches the
// identity (signed assertion only), overlong ones are dropped, the
// display name comes from a common attribute; MappedRoles maps them.
func TestSAMLGroupsAndName(t *testing.T) {
	e := newSAMLEnv(t)
	e.pr.GroupAttribute = "memberOf"
	e.pr.RoleMappings = []RoleMapping{{Value: "eng", Role: "editor"}, {Value: "ops", Role: "auditor"}, {Value: "eng-leads", Role: "editor"}}
	id, err := e.post(t, respOpts{groups: []string{"eng", "eng-leads", strings.Repeat("x", 300), "other"}, displayName: "Ada Lovelace"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(id.Groups, []string{"eng", "eng-leads", "other"}) || id.Name != "Ada Lovelace" {
		t.Fatalf("groups %q name %q", id.Groups, id.Name)
	}
	if got := e.pr.MappedRoles(id.Groups); !slices.Equal(got, []string{"editor"}) {
		t.Fatalf("mapped %v", got)
	}
	if got := e.pr.MappedRoles([]string{"ops", "eng"}); !slices.Equal(got, []string{"auditor", "editor"}) {
		t.Fatalf("mapped %v", got)
	}
	e.pr.GroupAttribute = ""
	id, err = e.post(t, respOpts{groups: []string{"eng"}})
	if err != nil || id.Groups != nil {
		t.Fatalf("groups read without a group attribute: %v %v", id.Groups, err)
	}
}

func TestGroupValues(t *testing.T) {
	for _, c := range []struct {
		in   any
		want []string
	}{
		{"eng", []string{"eng"}},
		{[]any{"a", 3, "b", nil}, []string{"a", "b"}},
		{map[string]any{"x": "y"}, nil},
		{nil, nil},
		{[]any{"  ", "c"}, []string{"c"}},
	} {
		if got := groupValues(c.in); !slices.Equal(got, c.want) {
			t.Errorf("groupValues(%v) = %v, want %v", c.in, got, c.want)
		}
	}
}

// OIDC: the groups claim of the verified ID token (a list, as Entra ID
// and Okta send it) reaches the identity with the name claim.
func TestOIDCGroups(t *testing.T) {
	e := newOIDCEnv(t)
	e.pr.GroupAttribute = "groups"
	e.op.claims = func(c map[string]any) { c["groups"] = []string{"eng", "ops"} }
	id, err := e.login(t)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(id.Groups, []string{"eng", "ops"}) || id.Name != "Ada" {
		t.Fatalf("groups %q name %q", id.Groups, id.Name)
	}
	e.op.claims = func(c map[string]any) { c["groups"] = "eng" }
	if id, err = e.login(t); err != nil || !slices.Equal(id.Groups, []string{"eng"}) {
		t.Fatalf("single-string claim: %v %v", id, err)
	}
}
