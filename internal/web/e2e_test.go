package web

// End-to-end tests: the real store (SQLite in a temp file, and PostgreSQL
// when one answers on 127.0.0.1), the real auth service, and the API behind
// an HTTPS test server with the production TLS policy. Time comes from the
// fixture's fake clock.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	bulwark "github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/sso"
	"github.com/bulwarkhq/bulwark/internal/storetest"
)

// lockedBuffer collects the server's log lines from its goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type e2e struct {
	t    *testing.T
	fx   *storetest.Fixture
	api  *API
	srv  *httptest.Server
	logs *lockedBuffer
}

func newE2E(t *testing.T, backend string) *e2e {
	t.Helper()
	fx := storetest.NewFixture(t, backend)
	logs := &lockedBuffer{}
	// Identity providers in these tests listen on loopback: the
	// operator allow-list lets the SSRF guard reach them.
	ssoSvc := sso.NewService(fx.DB.DB, &sso.Guard{Allow: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}, "")
	api := New(Deps{
		Auth:        fx.Auth,
		Tenants:     fx.DB.DB,
		Operators:   fx.DB.DB,
		Users:       fx.DB.DB,
		Roles:       fx.DB.DB,
		Tokens:      fx.DB.DB,
		Collections: fx.DB.DB,
		Records:     fx.DB.DB,
		Audit:       fx.DB.DB,
		Keys:        fx.DB.DB,
		Account:     fx.Auth,
		Sessions:    fx.DB.DB,
		Settings:    fx.DB.DB,
		Logger:      slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Ready:       fx.DB.Ping,
		SSO:         ssoSvc,
	})
	srv := httptest.NewUnstartedServer(api.Handler())
	srv.TLS = TLSConfig()
	srv.StartTLS()
	ssoSvc.BaseURL = srv.URL
	t.Cleanup(srv.Close)
	return &e2e{t: t, fx: fx, api: api, srv: srv, logs: logs}
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) String() string { return fmt.Sprintf("%d %s", r.status, r.body) }

// do sends a request. body is nil (none), a string (sent as is) or a value
// (sent as JSON); header holds name, value pairs.
func (e *e2e) do(method, path, token string, body any, header ...string) resp {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp{status: res.StatusCode, header: res.Header, body: b}
}

// want fails the test unless r has the status (and, for errors, the code).
func (e *e2e) want(r resp, status int, code ...bulwark.Code) resp {
	e.t.Helper()
	if r.status != status {
		e.t.Fatalf("status = %d, want %d: %s", r.status, status, r.body)
	}
	if len(code) > 0 {
		var env errorEnvelope
		if err := json.Unmarshal(r.body, &env); err != nil || env.Error.Code != code[0] {
			e.t.Fatalf("error code = %q, want %q: %s", env.Error.Code, code[0], r.body)
		}
	}
	return r
}

func decodeInto[T any](t *testing.T, r resp) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, r.body)
	}
	return v
}

// tenant creates a tenant through the store, as the command line does,
// then activates its owner and logs in through the API. It returns the
// owner's session token.
func (e *e2e) tenant(slug string) string {
	e.t.Helper()
	_, inv, err := e.fx.CreateTenant(storetest.System(context.Background()), bulwark.NewTenant{Slug: slug, Name: "Tenant " + slug, AdminEmail: "owner@" + slug + ".example"})
	if err != nil {
		e.t.Fatal(err)
	}
	e.want(e.do("POST", "/api/v1/auth/activate", "", activateRequest{Token: inv.Token, Password: storetest.Password}), http.StatusNoContent)
	return e.login(slug, "owner@"+slug+".example")
}

func (e *e2e) login(slug, email string) string {
	e.t.Helper()
	r := e.want(e.do("POST", "/api/v1/auth/login", "", loginRequest{Tenant: slug, Email: email, Password: storetest.Password}), http.StatusOK)
	return decodeInto[sessionResponse](e.t, r).Token
}

// user invites a user through the API as ownerToken, activates and logs
// them in; it returns the user id and session token.
func (e *e2e) user(ownerToken, slug, email string, grants ...bulwark.Grant) (string, string) {
	e.t.Helper()
	var gs []grantRequest
	for _, g := range grants {
		gs = append(gs, grantRequest{Role: g.Role, Collection: g.Collection})
	}
	r := e.want(e.do("POST", "/api/v1/users", ownerToken, inviteUserRequest{Email: email, Grants: gs}), http.StatusCreated)
	out := decodeInto[inviteUserResponse](e.t, r)
	e.want(e.do("POST", "/api/v1/auth/activate", "", activateRequest{Token: out.Invitation.Token, Password: storetest.Password}), http.StatusNoContent)
	return out.User.ID, e.login(slug, email)
}

func (e *e2e) collection(token, name string, fields ...bulwark.Field) {
	e.t.Helper()
	var fs []fieldRequest
	for _, f := range fields {
		fs = append(fs, fieldRequest{Name: f.Name, Type: f.Type, Classification: f.Classification, Required: f.Required, Unique: f.Unique, Lookup: f.Lookup})
	}
	e.want(e.do("POST", "/api/v1/collections", token, createCollectionRequest{Name: name, Fields: fs}), http.StatusCreated)
}

func (e *e2e) record(token, collection string, data map[string]any) *bulwark.Record {
	e.t.Helper()
	r := e.want(e.do("POST", "/api/v1/collections/"+collection+"/records", token, data), http.StatusCreated)
	return decodeInto[*bulwark.Record](e.t, r)
}

func missingID() string { return uuid.Must(uuid.NewV7()).String() }

var contactFields = []bulwark.Field{
	{Name: "name", Type: bulwark.TypeText, Classification: bulwark.ClassPersonal, Required: true},
	{Name: "email", Type: bulwark.TypeEmail, Classification: bulwark.ClassPersonal, Unique: true},
	{Name: "score", Type: bulwark.TypeNumber, Classification: bulwark.ClassPublic},
	{Name: "vip", Type: bulwark.TypeBool, Classification: bulwark.ClassInternal},
}

// TestE2EFlow walks the main story: an operator makes a tenant, its owner
// activates, logs in, defines a collection, writes records with
// conditional updates, invites a user, makes an API token, and logs out.
func TestE2EFlow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)

		e.want(e.do("GET", "/healthz", "", nil), 200)
		e.want(e.do("GET", "/readyz", "", nil), 200)

		// Operator, created by the command line, activated over the API.
		_, opInv, err := e.fx.CreateOperator(storetest.System(context.Background()), "ops@vendor.example", bulwark.OperatorAdmin)
		if err != nil {
			t.Fatal(err)
		}
		e.want(e.do("POST", "/api/v1/auth/activate", "", activateRequest{Token: opInv.Token, Password: "short"}), 400, bulwark.EInvalid)
		e.want(e.do("POST", "/api/v1/auth/activate", "", activateRequest{Token: opInv.Token, Password: storetest.Password}), 204)
		e.want(e.do("POST", "/api/v1/auth/activate", "", activateRequest{Token: opInv.Token, Password: storetest.Password}), 410, bulwark.EGone)
		e.want(e.do("POST", "/api/v1/operator/login", "", operatorLoginRequest{Email: "ops@vendor.example", Password: "wrong password, long enough"}), 401, bulwark.EUnauthenticated)
		opTok := decodeInto[sessionResponse](t, e.want(e.do("POST", "/api/v1/operator/login", "", operatorLoginRequest{Email: "ops@vendor.example", Password: storetest.Password}), 200)).Token
		opTok = e.enrolTOTP(opTok) // operators always need a second factor (AUTH-8)

		me := decodeInto[meResponse](t, e.want(e.do("GET", "/api/v1/auth/me", opTok, nil), 200))
		if me.Kind != bulwark.KindOperator || me.Tenant != "" || len(me.Grants) != 0 {
			t.Errorf("operator me = %+v", me)
		}

		// The operator makes a tenant, and sees no tenant data (PRIV-1).
		r := e.want(e.do("POST", "/api/v1/operator/tenants", opTok, createTenantRequest{Slug: "acme", Name: "Acme", AdminEmail: "Owner@Acme.example"}), 201)
		created := decodeInto[createTenantResponse](t, r)
		if created.Tenant.Slug != "acme" || created.Invitation.Token == "" || r.header.Get("Location") != "/api/v1/operator/tenants/"+created.Tenant.ID {
			t.Fatalf("create tenant = %s, Location %q", r.body, r.header.Get("Location"))
		}
		e.want(e.do("POST", "/api/v1/operator/tenants", opTok, createTenantRequest{Slug: "acme", Name: "Acme 2", AdminEmail: "x@acme.example"}), 409, bulwark.EConflict)
		tenants := decodeInto[listResponse[*bulwark.Tenant]](t, e.want(e.do("GET", "/api/v1/operator/tenants", opTok, nil), 200))
		if len(tenants.Items) != 1 || tenants.Items[0].Slug != "acme" {
			t.Errorf("tenants = %+v", tenants)
		}
		// The key inventory (DATA-3): the new tenant's two keysets, no
		// key material; operators only.
		inv := decodeInto[listResponse[*bulwark.TenantKeyset]](t, e.want(e.do("GET", "/api/v1/operator/keys", opTok, nil), 200))
		if len(inv.Items) != 2 || inv.Items[0].TenantSlug != "acme" || len(inv.Items[0].Keys) != 1 || inv.Items[0].Keys[0].Status != "primary" {
			t.Errorf("key inventory = %+v", inv)
		}
		e.want(e.do("GET", "/api/v1/users", opTok, nil), 403, bulwark.EForbidden)
		e.want(e.do("GET", "/api/v1/collections", opTok, nil), 403, bulwark.EForbidden)
		r = e.want(e.do("POST", "/api/v1/operator/operators", opTok, createOperatorRequest{Email: "ops2@vendor.example", Roles: []bulwark.OperatorRole{bulwark.OperatorSecurity}}), 201)
		if o := decodeInto[createOperatorResponse](t, r); o.Operator.Email != "ops2@vendor.example" || o.Invitation.Token == "" || r.header.Get("Location") == "" {
			t.Errorf("create operator = %s", r.body)
		}

		// The owner activates and logs in.
		e.want(e.do("POST", "/api/v1/auth/activate", "", activateRequest{Token: created.Invitation.Token, Password: storetest.Password}), 204)
		e.want(e.do("POST", "/api/v1/auth/login", "", loginRequest{Tenant: "acme", Email: "owner@acme.example", Password: "not the password at all"}), 401, bulwark.EUnauthenticated)
		e.want(e.do("POST", "/api/v1/auth/login", "", loginRequest{Tenant: "nope", Email: "owner@acme.example", Password: storetest.Password}), 401, bulwark.EUnauthenticated)
		owner := e.login("acme", "owner@acme.example")
		me = decodeInto[meResponse](t, e.want(e.do("GET", "/api/v1/auth/me", owner, nil), 200))
		if me.Kind != bulwark.KindUser || me.Tenant != "acme" || len(me.Grants) != 1 || me.Grants[0].Role != bulwark.RoleOwner || len(me.Grants[0].Permissions) != len(bulwark.AllPermissions) {
			t.Errorf("owner me = %+v", me)
		}
		// A tenant user cannot reach operator routes.
		e.want(e.do("GET", "/api/v1/operator/tenants", owner, nil), 403, bulwark.EForbidden)

		// A collection, with a classification on every field.
		r = e.want(e.do("POST", "/api/v1/collections", owner, createCollectionRequest{Name: "contacts", Fields: []fieldRequest{
			{Name: "name", Type: "text", Classification: "personal", Required: true},
			{Name: "email", Type: "email", Classification: "personal", Unique: true},
			{Name: "score", Type: "number", Classification: "public"},
			{Name: "vip", Type: "bool", Classification: "internal"},
		}}), 201)
		if r.header.Get("Location") != "/api/v1/collections/contacts" {
			t.Errorf("Location = %q", r.header.Get("Location"))
		}
		e.want(e.do("POST", "/api/v1/collections", owner, createCollectionRequest{Name: "nofield", Fields: []fieldRequest{{Name: "x", Type: "text"}}}), 400, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/collections/contacts", owner, nil), 200)
		r = e.want(e.do("PATCH", "/api/v1/collections/contacts", owner, updateCollectionRequest{AddFields: []fieldRequest{{Name: "note", Type: "text", Classification: "confidential"}}}), 200)
		if c := decodeInto[*bulwark.Collection](t, r); len(c.Fields) != 5 {
			t.Errorf("collection after update = %s", r.body)
		}

		// Records with ETags and conditional writes.
		r = e.want(e.do("POST", "/api/v1/collections/contacts/records", owner, `{"name":"Ada","email":"Ada@Example.com","score":42,"vip":true}`), 201)
		rec := decodeInto[*bulwark.Record](t, r)
		loc := r.header.Get("Location")
		if loc != "/api/v1/collections/contacts/records/"+rec.ID || r.header.Get("ETag") != `"1"` || rec.Data["email"] != "ada@example.com" {
			t.Fatalf("create record: %s Location %q ETag %q", r.body, loc, r.header.Get("ETag"))
		}
		r = e.want(e.do("GET", loc, owner, nil), 200)
		if r.header.Get("ETag") != `"1"` {
			t.Errorf("GET ETag = %q", r.header.Get("ETag"))
		}
		e.want(e.do("POST", "/api/v1/collections/contacts/records", owner, `{"name":"Bob","email":"ada@example.com"}`), 409, bulwark.EConflict)
		e.want(e.do("POST", "/api/v1/collections/contacts/records", owner, `{"email":"c@example.com"}`), 400, bulwark.EInvalid)
		e.want(e.do("POST", "/api/v1/collections/contacts/records", owner, `{"name":"Bob","shoe":44}`), 400, bulwark.EInvalid)
		r = e.want(e.do("PATCH", loc, owner, `{"score":43}`, "If-Match", `"1"`), 200)
		if r.header.Get("ETag") != `"2"` {
			t.Errorf("PATCH ETag = %q", r.header.Get("ETag"))
		}
		e.want(e.do("PATCH", loc, owner, `{"score":44}`, "If-Match", `"1"`), 412, bulwark.EFailedPrecondition)
		e.want(e.do("PATCH", loc, owner, `{"score":44}`, "If-Match", `1`), 400, bulwark.EInvalid)
		e.want(e.do("DELETE", loc, owner, nil, "If-Match", `"1"`), 412, bulwark.EFailedPrecondition)
		e.want(e.do("DELETE", loc, owner, nil, "If-Match", `nonsense`), 400, bulwark.EInvalid)
		r = e.want(e.do("PATCH", loc, owner, `{"vip":null}`), 200)
		if rec := decodeInto[*bulwark.Record](t, r); rec.Version != 3 || rec.Data["vip"] != nil || rec.Data["score"] != float64(43) {
			t.Errorf("after PATCH: %s", r.body)
		}

		// Lists page with limit and cursor and filter on fields.
		for i := range 4 {
			e.record(owner, "contacts", map[string]any{"name": fmt.Sprintf("P%d", i), "score": i % 2, "vip": i == 3})
		}
		var seen []string
		cursor := ""
		for pages := 0; ; pages++ {
			if pages > 5 {
				t.Fatal("paging does not end")
			}
			q := "?limit=2"
			if cursor != "" {
				q += "&cursor=" + cursor
			}
			page := decodeInto[listResponse[*bulwark.Record]](t, e.want(e.do("GET", "/api/v1/collections/contacts/records"+q, owner, nil), 200))
			if len(page.Items) > 2 {
				t.Fatalf("page of %d", len(page.Items))
			}
			for _, it := range page.Items {
				seen = append(seen, it.ID)
			}
			if page.NextCursor == "" {
				break
			}
			cursor = page.NextCursor
		}
		if len(seen) != 5 {
			t.Errorf("paged through %d records, want 5", len(seen))
		}
		page := decodeInto[listResponse[*bulwark.Record]](t, e.want(e.do("GET", "/api/v1/collections/contacts/records?score=1", owner, nil), 200))
		if len(page.Items) != 2 {
			t.Errorf("score=1 gives %d records, want 2", len(page.Items))
		}
		page = decodeInto[listResponse[*bulwark.Record]](t, e.want(e.do("GET", "/api/v1/collections/contacts/records?vip=true&score=1", owner, nil), 200))
		if len(page.Items) != 1 {
			t.Errorf("vip=true&score=1 gives %d records, want 1", len(page.Items))
		}
		page = decodeInto[listResponse[*bulwark.Record]](t, e.want(e.do("GET", "/api/v1/collections/contacts/records?email=ADA%40example.com", owner, nil), 200))
		if len(page.Items) != 1 || page.Items[0].ID != rec.ID {
			t.Errorf("email filter gives %d records", len(page.Items))
		}
		e.want(e.do("GET", "/api/v1/collections/contacts/records?shoe=44", owner, nil), 400, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/collections/contacts/records?score=many", owner, nil), 400, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/collections/contacts/records?score=1&score=2", owner, nil), 400, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/collections/contacts/records?limit=0", owner, nil), 400, bulwark.EInvalid)
		e.want(e.do("GET", "/api/v1/collections/nosuch/records?score=1", owner, nil), 404, bulwark.ENotFound)
		e.want(e.do("GET", "/api/v1/collections/nosuch/records", owner, nil), 404, bulwark.ENotFound)

		// Users: invite, read, change, and a disabled user is out at once.
		uid, userTok := e.user(owner, "acme", "viewer@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})
		users := decodeInto[listResponse[*bulwark.User]](t, e.want(e.do("GET", "/api/v1/users?limit=1", owner, nil), 200))
		if len(users.Items) != 1 || users.NextCursor == "" {
			t.Errorf("users page = %+v", users)
		}
		u := decodeInto[*bulwark.User](t, e.want(e.do("GET", "/api/v1/users/"+uid, owner, nil), 200))
		if u.Email != "viewer@acme.example" || u.Status != bulwark.StatusActive {
			t.Errorf("user = %+v", u)
		}
		e.want(e.do("GET", "/api/v1/collections/contacts/records", userTok, nil), 200)
		e.want(e.do("POST", "/api/v1/collections/contacts/records", userTok, `{"name":"X"}`), 403, bulwark.EForbidden)
		e.want(e.do("GET", "/api/v1/users", userTok, nil), 403, bulwark.EForbidden)
		e.want(e.do("PATCH", "/api/v1/users/"+uid, owner, map[string]any{"grants": []grantRequest{{Role: bulwark.RoleEditor, Collection: "contacts"}}}), 200)
		e.want(e.do("POST", "/api/v1/collections/contacts/records", userTok, `{"name":"X"}`), 201)
		e.want(e.do("PATCH", "/api/v1/users/"+uid, owner, map[string]any{"status": "disabled"}), 200)
		e.want(e.do("GET", "/api/v1/auth/me", userTok, nil), 401, bulwark.EUnauthenticated)
		e.want(e.do("PATCH", "/api/v1/users/"+uid, owner, map[string]any{"status": "invited"}), 400, bulwark.EInvalid)
		e.want(e.do("DELETE", "/api/v1/users/"+uid, owner, nil), 204)
		e.want(e.do("GET", "/api/v1/users/"+uid, owner, nil), 404, bulwark.ENotFound)

		// Roles.
		r = e.want(e.do("POST", "/api/v1/roles", owner, createRoleRequest{Name: "reader", Permissions: []bulwark.Permission{bulwark.PermRecordsRead, bulwark.PermCollectionsRead}}), 201)
		if r.header.Get("Location") != "/api/v1/roles/reader" {
			t.Errorf("role Location = %q", r.header.Get("Location"))
		}
		e.want(e.do("POST", "/api/v1/roles", owner, createRoleRequest{Name: "sneaky", Permissions: []bulwark.Permission{bulwark.PermTenantOwn}}), 400, bulwark.EInvalid)
		roles := decodeInto[listResponse[*bulwark.Role]](t, e.want(e.do("GET", "/api/v1/roles", owner, nil), 200))
		if len(roles.Items) != len(bulwark.BuiltInRoles)+1 {
			t.Errorf("%d roles", len(roles.Items))
		}

		// API tokens: shown once, scoped, revocable.
		r = e.want(e.do("POST", "/api/v1/tokens", owner, createTokenRequest{Name: "ci", Grant: grantRequest{Role: "reader", Collection: "contacts"}, ExpiresIn: "24h"}), 201)
		ct := decodeInto[*bulwark.CreatedToken](t, r)
		if ct.Secret == "" || r.header.Get("Location") != "/api/v1/tokens/"+ct.ID {
			t.Fatalf("token = %s", r.body)
		}
		me = decodeInto[meResponse](t, e.want(e.do("GET", "/api/v1/auth/me", ct.Secret, nil), 200))
		if me.Kind != bulwark.KindToken || me.ID != ct.ID || me.Tenant != "acme" {
			t.Errorf("token me = %+v", me)
		}
		e.want(e.do("GET", "/api/v1/collections/contacts/records", ct.Secret, nil), 200)
		e.want(e.do("POST", "/api/v1/collections/contacts/records", ct.Secret, `{"name":"X"}`), 403, bulwark.EForbidden)
		e.want(e.do("GET", "/api/v1/users", ct.Secret, nil), 403, bulwark.EForbidden)
		tokens := decodeInto[listResponse[map[string]any]](t, e.want(e.do("GET", "/api/v1/tokens", owner, nil), 200))
		if len(tokens.Items) != 1 || tokens.Items[0]["token"] != nil {
			t.Errorf("token list = %+v (the secret must not be listed)", tokens)
		}
		e.want(e.do("DELETE", "/api/v1/roles/reader", owner, nil), 409, bulwark.EConflict)
		e.want(e.do("DELETE", "/api/v1/tokens/"+ct.ID, owner, nil), 204)
		e.want(e.do("GET", "/api/v1/auth/me", ct.Secret, nil), 401, bulwark.EUnauthenticated)
		e.want(e.do("DELETE", "/api/v1/roles/reader", owner, nil), 204)

		// Delete a record and a collection.
		e.want(e.do("DELETE", loc, owner, nil, "If-Match", `"3"`), 204)
		e.want(e.do("GET", loc, owner, nil), 404, bulwark.ENotFound)
		e.want(e.do("DELETE", "/api/v1/collections/contacts", owner, nil), 204)
		e.want(e.do("GET", "/api/v1/collections/contacts", owner, nil), 404, bulwark.ENotFound)

		// Logout ends the session.
		e.want(e.do("POST", "/api/v1/auth/logout", owner, nil), 204)
		e.want(e.do("GET", "/api/v1/auth/me", owner, nil), 401, bulwark.EUnauthenticated)
		e.want(e.do("POST", "/api/v1/auth/logout", opTok, nil), 204)
		e.want(e.do("GET", "/api/v1/operator/tenants", opTok, nil), 401, bulwark.EUnauthenticated)

		// Nothing personal or secret reached the access log.
		logs := e.logs.String()
		for _, s := range []string{"ada@example.com", "Ada", "owner@acme.example", "viewer@acme.example", "ops@vendor.example",
			storetest.Password, created.Invitation.Token, opInv.Token, ct.Secret, owner, opTok} {
			if strings.Contains(logs, s) {
				t.Errorf("the log contains %q", s)
			}
		}
		if !strings.Contains(logs, `"route":"PATCH /api/v1/collections/{collection}/records/{id}"`) {
			t.Errorf("the log lacks route patterns")
		}
	})
}

// principalSpec is one principal of the permission matrix.
type principalSpec struct {
	name  string
	grant bulwark.Grant
	token bool // an API token instead of a user session
}

// TestE2EPermissionMatrix is PRIV-1 against the real services: every
// built-in role and custom roles, tenant-wide and scoped to a collection,
// as user sessions and API tokens, on every tenant route, on the
// collection of the grant and on another one. A request the policy allows
// gets the status of the request itself (200, 400 for the empty body, 404
// for a missing id); one it does not allow gets 403 and changes nothing.
func TestE2EPermissionMatrix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, backend string) {
		e := newE2E(t, backend)
		owner := e.tenant("acme")
		fields := []bulwark.Field{{Name: "title", Type: bulwark.TypeText, Classification: bulwark.ClassInternal, Required: true}}
		e.collection(owner, "c", fields...)
		e.collection(owner, "d", fields...)
		recs := map[string]string{
			"c": e.record(owner, "c", map[string]any{"title": "in c"}).ID,
			"d": e.record(owner, "d", map[string]any{"title": "in d"}).ID,
		}
		custom := map[string][]bulwark.Permission{
			"reader":  {bulwark.PermRecordsRead},
			"curator": {bulwark.PermCollectionsRead, bulwark.PermRecordsWrite, bulwark.PermRecordsDelete},
			"usermgr": {bulwark.PermUsersRead, bulwark.PermUsersManage},
			"keymgr":  {bulwark.PermTokensManage, bulwark.PermRolesManage},
		}
		for name, perms := range custom {
			e.want(e.do("POST", "/api/v1/roles", owner, createRoleRequest{Name: name, Permissions: perms}), 201)
		}
		targetID, _ := e.user(owner, "acme", "target@acme.example", bulwark.Grant{Role: bulwark.RoleViewer})

		var specs []principalSpec
		for _, r := range bulwark.BuiltInRoles {
			specs = append(specs, principalSpec{name: r.Name, grant: bulwark.Grant{Role: r.Name}})
		}
		for name := range custom {
			specs = append(specs, principalSpec{name: name, grant: bulwark.Grant{Role: name}})
		}
		specs = append(specs,
			principalSpec{name: "editor on c", grant: bulwark.Grant{Role: bulwark.RoleEditor, Collection: "c"}},
			principalSpec{name: "viewer on c", grant: bulwark.Grant{Role: bulwark.RoleViewer, Collection: "c"}},
			principalSpec{name: "reader on c", grant: bulwark.Grant{Role: "reader", Collection: "c"}},
			principalSpec{name: "curator on c", grant: bulwark.Grant{Role: "curator", Collection: "c"}},
			principalSpec{name: "token admin", grant: bulwark.Grant{Role: bulwark.RoleAdmin}, token: true},
			principalSpec{name: "token viewer", grant: bulwark.Grant{Role: bulwark.RoleViewer}, token: true},
			principalSpec{name: "token editor on c", grant: bulwark.Grant{Role: bulwark.RoleEditor, Collection: "c"}, token: true},
		)

		permsOf := func(role string) []bulwark.Permission {
			if r, ok := bulwark.BuiltInRole(role); ok {
				return r.Permissions
			}
			return custom[role]
		}
		// allowed is the policy, from wantAccess and the grant, computed
		// here without Principal.Can.
		allowed := func(g bulwark.Grant, acc access, collection string) bool {
			has := false
			for _, p := range permsOf(g.Role) {
				if p == acc.perm {
					has = true
				}
			}
			if !has {
				return false
			}
			switch acc.kind {
			case accessTenant:
				return g.Collection == ""
			case accessTenantScoped:
				return g.Collection == "" || g.Collection == collection
			case accessTenantSome:
				return true
			}
			return false
		}

		for i, s := range specs {
			var tok string
			if s.token {
				r := e.want(e.do("POST", "/api/v1/tokens", owner, createTokenRequest{Name: s.name, Grant: grantRequest{Role: s.grant.Role, Collection: s.grant.Collection}}), 201)
				tok = decodeInto[*bulwark.CreatedToken](t, r).Secret
			} else {
				_, tok = e.user(owner, "acme", fmt.Sprintf("p%d@acme.example", i), s.grant)
			}
			snap := snapshot(t, e, owner)
			for _, rt := range e.api.routes {
				switch rt.access.kind {
				case accessTenant, accessTenantScoped, accessTenantSome:
				default:
					continue
				}
				collections := []string{""}
				if strings.Contains(rt.path, "{collection}") {
					collections = []string{"c", "d"}
				}
				for _, coll := range collections {
					path, body, status, ok := matrixRequest(rt, coll, recs[coll], targetID)
					if !ok {
						t.Fatalf("no matrix request for %s: add one to matrixRequest", rt.pattern())
					}
					want := status
					if !allowed(s.grant, wantAccess[rt.pattern()], coll) {
						want = http.StatusForbidden
					}
					r := e.do(rt.method, path, tok, body)
					if r.status != want {
						t.Errorf("%s: %s %s: status %d, want %d: %s", s.name, rt.method, path, r.status, want, r.body)
					}
				}
			}
			// Requests, allowed or not, changed nothing.
			if after := snapshot(t, e, owner); after != snap {
				t.Errorf("%s: the tenant changed:\nbefore %s\nafter  %s", s.name, snap, after)
			}
		}

		// A collection-scoped reader lists only its collection.
		_, tok := e.user(owner, "acme", "scoped@acme.example", bulwark.Grant{Role: bulwark.RoleViewer, Collection: "c"})
		list := decodeInto[listResponse[*bulwark.Collection]](t, e.want(e.do("GET", "/api/v1/collections", tok, nil), 200))
		if len(list.Items) != 1 || list.Items[0].Name != "c" {
			t.Errorf("scoped viewer lists %+v", list.Items)
		}
	})
}

// matrixRequest returns a request for route rt that changes nothing when
// allowed, and the status it then gets: reads of existing objects (200),
// creates with an empty object (400), changes and deletes of missing ids
// (404).
func matrixRequest(rt route, collection, recordID, userID string) (path string, body any, status int, ok bool) {
	r := strings.NewReplacer("{collection}", collection)
	path = r.Replace(rt.path)
	switch rt.pattern() {
	case "GET /api/v1/users/{id}", "GET /api/v1/users/{id}/sessions":
		return strings.Replace(path, "{id}", userID, 1), nil, 200, true
	case "GET /api/v1/collections/{collection}/records/{id}":
		return strings.Replace(path, "{id}", recordID, 1), nil, 200, true
	case "PATCH /api/v1/users/{id}":
		return strings.Replace(path, "{id}", missingID(), 1), `{"status":"active"}`, 404, true
	case "PATCH /api/v1/collections/{collection}/records/{id}":
		return strings.Replace(path, "{id}", missingID(), 1), `{"title":"x"}`, 404, true
	case "PATCH /api/v1/collections/{collection}":
		// Not scoped: collections.manage is tenant-wide; a missing one.
		return "/api/v1/collections/nosuch", `{"classifications":{"title":"public"}}`, 404, true
	case "DELETE /api/v1/collections/{collection}":
		return "/api/v1/collections/nosuch", nil, 404, true
	case "GET /api/v1/audit/export":
		// No sequencer runs here, so there is no signed checkpoint yet.
		return path, nil, 503, true
	case "DELETE /api/v1/roles/{name}":
		return strings.Replace(path, "{name}", "nosuch", 1), nil, 404, true
	case "GET /api/v1/settings/sso/providers/{id}", "PUT /api/v1/settings/sso/providers/{id}":
		return strings.Replace(path, "{id}", missingID(), 1), `{"kind":"oidc","name":"x"}`, 404, true
	case "PUT /api/v1/settings/sso":
		// Switching SSO-only on needs a provider: none exists here.
		return path, `{"sso_only":true}`, 400, true
	}
	path = strings.Replace(path, "{id}", missingID(), 1)
	switch rt.method {
	case "GET":
		return path, nil, 200, true
	case "POST":
		return path, `{}`, 400, true
	case "DELETE":
		return path, nil, 404, true
	case "PUT":
		return path, `{}`, 400, true
	}
	return "", nil, 0, false
}

// snapshot is everything a tenant admin can see of their tenant, read
// through the store, as one comparable string.
func snapshot(t *testing.T, e *e2e, ownerToken string) string {
	t.Helper()
	ctx := e.fx.As(t, ownerToken)
	var out struct {
		Users       []*bulwark.User
		Roles       []*bulwark.Role
		Tokens      []*bulwark.APIToken
		Collections []*bulwark.Collection
		Records     map[string][]*bulwark.Record
	}
	var err error
	cursor := ""
	for {
		var page []*bulwark.User
		page, cursor, err = e.fx.ListUsers(ctx, bulwark.ListOptions{Limit: bulwark.MaxPageSize, Cursor: cursor})
		if err != nil {
			t.Fatal(err)
		}
		out.Users = append(out.Users, page...)
		if cursor == "" {
			break
		}
	}
	if out.Roles, err = e.fx.ListRoles(ctx); err != nil {
		t.Fatal(err)
	}
	if out.Tokens, err = e.fx.ListTokens(ctx); err != nil {
		t.Fatal(err)
	}
	for _, tk := range out.Tokens {
		tk.LastUsedAt = nil // using a token is not a change to it
	}
	if out.Collections, err = e.fx.ListCollections(ctx); err != nil {
		t.Fatal(err)
	}
	out.Records = map[string][]*bulwark.Record{}
	for _, c := range out.Collections {
		cursor := ""
		for {
			page, next, err := e.fx.ListRecords(ctx, c.Name, bulwark.ListOptions{Limit: bulwark.MaxPageSize, Cursor: cursor})
			if err != nil {
				t.Fatal(err)
			}
			out.Records[c.Name] = append(out.Records[c.Name], page...)
			if cursor = next; cursor == "" {
				break
			}
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
