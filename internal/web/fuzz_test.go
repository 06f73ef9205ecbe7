package web

import (
	"bytes"
	"net/http/httptest"
	"testing"

	bulwark "github.com/bulwarkhq/bulwark"
)

var fuzzSeeds = []string{
	``, `{}`, `null`, `[]`, `"x"`, `1`, `{"a":1}`, `{"a":1}{}`, `{"a":`, `{"a":1e999}`,
	`{"a":12345678901234567890}`, `{"a":{"b":[1,2,{"c":null}]}}`, "{\"a\":\"\xff\"}",
	`{"tenant":"acme","email":"a@b.co","password":"p"}`,
	`{"name":"c","fields":[{"name":"f","type":"text","classification":"personal"}]}`,
	`{"status":"disabled","grants":[{"role":"viewer","collection":"c"}]}`,
	`{"name":"t","grant":{"role":"viewer"},"expires_in":"720h"}`,
	`{"__proto__":{"x":1}}`, `{"a":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]}`,
}

// fuzzDecode checks that decoding arbitrary bytes never panics and fails
// only with a client error.
func fuzzDecode[T any](f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, jsonType bool) {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		if jsonType {
			r.Header.Set("Content-Type", "application/json")
		}
		w := httptest.NewRecorder()
		_, err := decode[T](w, r)
		checkClientError(t, err)
	})
}

func checkClientError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	w := httptest.NewRecorder()
	writeError(w, httptest.NewRequest("POST", "/", nil), err)
	if w.Code < 400 || w.Code >= 500 {
		t.Fatalf("status %d for %v", w.Code, err)
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	c := &bulwark.Collection{Name: "c", Fields: []bulwark.Field{
		{Name: "t", Type: bulwark.TypeText, Classification: bulwark.ClassPersonal},
		{Name: "n", Type: bulwark.TypeNumber, Classification: bulwark.ClassPublic},
		{Name: "b", Type: bulwark.TypeBool, Classification: bulwark.ClassPublic},
		{Name: "d", Type: bulwark.TypeDatetime, Classification: bulwark.ClassPublic},
		{Name: "e", Type: bulwark.TypeEmail, Classification: bulwark.ClassPersonal},
		{Name: "j", Type: bulwark.TypeJSON, Classification: bulwark.ClassInternal},
	}}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("POST", "/", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		m, err := decodeObject(httptest.NewRecorder(), r)
		checkClientError(t, err)
		if err != nil {
			return
		}
		if m == nil {
			t.Fatal("nil map without error")
		}
		// What the decoder hands on must not upset validation either.
		_, err = c.ValidateData(m, false)
		checkClientError(t, err)
		_, err = c.ValidateData(m, true)
		checkClientError(t, err)
	})
}

func FuzzDecodeLogin(f *testing.F)            { fuzzDecode[loginRequest](f) }
func FuzzDecodeActivate(f *testing.F)         { fuzzDecode[activateRequest](f) }
func FuzzDecodeCreateTenant(f *testing.F)     { fuzzDecode[createTenantRequest](f) }
func FuzzDecodeInviteUser(f *testing.F)       { fuzzDecode[inviteUserRequest](f) }
func FuzzDecodeUpdateUser(f *testing.F)       { fuzzDecode[updateUserRequest](f) }
func FuzzDecodeCreateRole(f *testing.F)       { fuzzDecode[createRoleRequest](f) }
func FuzzDecodeCreateToken(f *testing.F)      { fuzzDecode[createTokenRequest](f) }
func FuzzDecodeCreateCollection(f *testing.F) { fuzzDecode[createCollectionRequest](f) }
func FuzzDecodeUpdateCollection(f *testing.F) { fuzzDecode[updateCollectionRequest](f) }

// FuzzListQuery: any query string gives list options or a client error.
func FuzzListQuery(f *testing.F) {
	for _, s := range []string{"", "limit=5", "limit=x&cursor=y", "a=%zz", "cursor=;;", "limit=99999999999999999999", "n=1.5&b=true"} {
		f.Add(s)
	}
	field := bulwark.Field{Name: "n", Type: bulwark.TypeNumber, Classification: bulwark.ClassPublic}
	f.Fuzz(func(t *testing.T, raw string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.RawQuery = raw
		q, err := query(r)
		checkClientError(t, err)
		if err != nil {
			return
		}
		_, err = listOptions(q)
		checkClientError(t, err)
		for _, vs := range q {
			for _, v := range vs {
				_, err := bulwark.ParseFilterValue(field, v)
				checkClientError(t, err)
			}
		}
	})
}
