package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

// How a record is stored (DATA-3): values of fields whose classification
// is Sensitive (confidential, personal, secret) never reach the database in
// clear. records.data holds the other values as JSON; records.sealed holds
// a JSON object of field name -> base64 AES256-GCM ciphertext, each sealed
// with associated data naming the environment, tenant, collection, field
// and record; records.key_id is the data key that sealed them. Every write
// re-seals the whole row under the primary key, so a row's values are
// always under exactly one key, and the re-seal job finds rows on old
// keys by key_id alone.
//
// Unique constraints and equality filters on sealed fields use blind
// indexes: record_uniques holds "t:" + tag instead of the value, and
// records.tags holds the tag of each sealed lookup or unique field.

// sensitive reports whether a field's values are sealed. A field that the
// collection does not know (it cannot happen through the API) is sealed:
// fail closed.
func sensitive(c *bulwark.Collection, name string) bool {
	f, ok := c.Field(name)
	return !ok || f.Classification.Sensitive()
}

// needsKeys reports whether writing data needs the tenant's keys.
func needsKeys(c *bulwark.Collection, data map[string]any) bool {
	for name, v := range data {
		if v != nil && sensitive(c, name) {
			return true
		}
	}
	return false
}

func binding(c *bulwark.Collection, field, record string) keys.Binding {
	return keys.Binding{Collection: c.ID, Field: field, Record: record}
}

// storedRow is a record as written: clear JSON, sealed JSON, key id and
// blind index tags JSON.
type storedRow struct {
	data   string
	sealed string
	keyID  int64
	tags   string
}

// layout splits data for storage, sealing the values of sensitive fields
// under k's primary key. k may be nil when nothing is sensitive.
func layout(k *keys.TenantKeys, c *bulwark.Collection, id string, data map[string]any) (storedRow, error) {
	plain := make(map[string]any, len(data))
	sealed := map[string]string{}
	tags := map[string]string{}
	var keyID int64
	for name, v := range data {
		if v == nil {
			continue
		}
		if !sensitive(c, name) {
			plain[name] = v
			continue
		}
		if k == nil {
			return storedRow{}, fmt.Errorf("seal %s: no tenant keys", name)
		}
		pt, err := appendJSONValue(nil, v)
		if err != nil {
			return storedRow{}, err
		}
		ct, err := k.Seal(pt, binding(c, name, id))
		if err != nil {
			return storedRow{}, err
		}
		sealed[name] = base64.StdEncoding.EncodeToString(ct)
		keyID = int64(k.Primary())
		if f, ok := c.Field(name); ok && indexed(f) {
			if tags[name], err = blindTag(k, c, name, bulwark.UniqueKey(v)); err != nil {
				return storedRow{}, err
			}
		}
	}
	cj, err := marshalValues(plain)
	if err != nil {
		return storedRow{}, err
	}
	return storedRow{data: cj, sealed: marshalStrings(sealed), keyID: keyID, tags: marshalStrings(tags)}, nil
}

// openSealed opens a record's sealed values into r.Data. A value that does
// not open fails the whole read: a record is never returned with a value
// missing or wrong.
func openSealed(k *keys.TenantKeys, c *bulwark.Collection, r *bulwark.Record, sealed map[string]string) error {
	if len(sealed) == 0 {
		return nil
	}
	if k == nil {
		return fmt.Errorf("open record: no tenant keys")
	}
	if r.Data == nil {
		r.Data = make(map[string]any, len(sealed))
	}
	for name, b64 := range sealed {
		ct, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return &bulwark.Error{Code: bulwark.EInternal, Message: "a sealed value of field " + name + " is damaged", Err: err}
		}
		pt, err := k.Open(ct, binding(c, name, r.ID))
		if err != nil {
			return err
		}
		var v any
		if err := json.Unmarshal(pt, &v); err != nil {
			// The plaintext is the value: the decoder's message, which
			// quotes it, must not reach the log with this error.
			return &bulwark.Error{Code: bulwark.EInternal, Message: "a sealed value of field " + name + " is damaged", Err: decodeFault(err)}
		}
		r.Data[name] = v
	}
	return nil
}

// decodeFault stands for an error decoding a stored value. It keeps the
// kind of fault and where it is, and drops encoding/json's message, which
// quotes the offending part of the value ("cannot unmarshal number
// 1e400"): that text goes to the log, and the value may be personal.
func decodeFault(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Errorf("a stored value does not decode into %s (byte %d)", typeErr.Type, typeErr.Offset)
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("a stored value is not valid JSON (byte %d)", syntaxErr.Offset)
	}
	return errors.New("a stored value does not decode")
}

// uniqueKey is what record_uniques holds for a value: the canonical value
// for a clear field, "t:" + its blind index tag for a sealed one.
func uniqueKey(k *keys.TenantKeys, c *bulwark.Collection, f bulwark.Field, v any) (string, error) {
	key := bulwark.UniqueKey(v)
	if !f.Classification.Sensitive() {
		return key, nil
	}
	if k == nil {
		return "", fmt.Errorf("blind index of %s: no tenant keys", f.Name)
	}
	tag, err := blindTag(k, c, f.Name, key)
	if err != nil {
		return "", err
	}
	return "t:" + tag, nil
}

// blindTag is the blind index tag of a value's canonical key.
func blindTag(k *keys.TenantKeys, c *bulwark.Collection, field, canonical string) (string, error) {
	return k.BlindIndex(c.ID, field, []byte(canonical))
}

// indexed reports whether a sealed field gets a blind index tag in
// records.tags, for equality filters.
func indexed(f bulwark.Field) bool {
	return f.Classification.Sensitive() && (f.Lookup || f.Unique)
}
