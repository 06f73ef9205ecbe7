package bulwark

import (
	"regexp"
	"time"
)

// FieldType is the type of a collection field's values.
type FieldType string

const (
	TypeText     FieldType = "text"
	TypeNumber   FieldType = "number"
	TypeBool     FieldType = "bool"
	TypeDatetime FieldType = "datetime"
	TypeEmail    FieldType = "email"
	TypeJSON     FieldType = "json"
)

func (t FieldType) valid() bool {
	switch t {
	case TypeText, TypeNumber, TypeBool, TypeDatetime, TypeEmail, TypeJSON:
		return true
	}
	return false
}

// Classification labels what a field holds (DATA-1). It drives encryption,
// log redaction, anonymisation, export and retention.
type Classification string

const (
	ClassPublic       Classification = "public"
	ClassInternal     Classification = "internal"
	ClassConfidential Classification = "confidential"
	ClassPersonal     Classification = "personal"
	ClassSecret       Classification = "secret"
)

// Valid reports whether c is a known classification.
func (c Classification) Valid() bool {
	switch c {
	case ClassPublic, ClassInternal, ClassConfidential, ClassPersonal, ClassSecret:
		return true
	}
	return false
}

// Sensitive reports whether values of this class must be sealed at rest
// and kept out of logs (DATA-3).
func (c Classification) Sensitive() bool {
	return c == ClassConfidential || c == ClassPersonal || c == ClassSecret
}

// Field is one field of a collection.
type Field struct {
	Name           string         `json:"name"`
	Type           FieldType      `json:"type"`
	Classification Classification `json:"classification"`
	Required       bool           `json:"required,omitempty"`
	Unique         bool           `json:"unique,omitempty"`
	// Lookup allows equality filters on a sealed (Sensitive) field: the
	// store keeps a blind index, a keyed per-tenant hash of each value,
	// and filters on it without decrypting. A sealed field without Lookup
	// (or Unique) cannot be filtered. A blind index reveals which records
	// share a value, so mark only fields that need it.
	Lookup bool `json:"lookup,omitempty"`
}

// Collection is a tenant-defined record type.
type Collection struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Fields    []Field   `json:"fields"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// MaxFields bounds a collection's width.
const MaxFields = 100

var identRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,62}$`)

// reserved names are record metadata or list parameters.
var reserved = map[string]bool{"id": true, "version": true, "created_at": true, "updated_at": true, "limit": true, "cursor": true}

// ValidIdent reports whether s is a valid collection or field name.
func ValidIdent(s string) bool { return identRE.MatchString(s) }

// Validate checks a new collection definition.
func (c *Collection) Validate() error {
	if !identRE.MatchString(c.Name) {
		return FieldError("name", "must be 1-63 characters: lowercase letters, digits or '_', starting with a letter")
	}
	if len(c.Fields) == 0 {
		return FieldError("fields", "a collection needs at least one field")
	}
	return validateFields(c.Fields)
}

func validateFields(fields []Field) error {
	if len(fields) > MaxFields {
		return FieldError("fields", "at most 100 fields")
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if err := f.validate(); err != nil {
			return err
		}
		if seen[f.Name] {
			return FieldError("fields", "duplicate field "+f.Name)
		}
		seen[f.Name] = true
	}
	return nil
}

func (f Field) validate() error {
	switch {
	case !identRE.MatchString(f.Name):
		return FieldError("fields", "field names must be 1-63 characters: lowercase letters, digits or '_', starting with a letter")
	case reserved[f.Name]:
		return FieldError("fields", f.Name+" is a reserved name")
	case !f.Type.valid():
		return FieldError("fields", "field "+f.Name+": type must be text, number, bool, datetime, email or json")
	case !f.Classification.Valid():
		return FieldError("fields", "field "+f.Name+": classification is required: public, internal, confidential, personal or secret")
	case f.Unique && f.Type == TypeJSON:
		return FieldError("fields", "field "+f.Name+": a json field cannot be unique")
	case f.Lookup && f.Type == TypeJSON:
		return FieldError("fields", "field "+f.Name+": a json field cannot be a lookup field")
	}
	return nil
}

// Field returns the field with that name.
func (c *Collection) Field(name string) (Field, bool) {
	for _, f := range c.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// CollectionUpdate changes a live collection: it adds fields and changes
// classifications. Removing fields or changing their type is not offered:
// existing records would no longer match their schema.
type CollectionUpdate struct {
	AddFields       []Field                   `json:"add_fields,omitempty"`
	Classifications map[string]Classification `json:"classifications,omitempty"`
}

// Apply returns c with the update applied, or an invalid-input error.
func (u *CollectionUpdate) Apply(c *Collection) (*Collection, error) {
	if len(u.AddFields) == 0 && len(u.Classifications) == 0 {
		return nil, Errorf(EInvalid, "nothing to change: give add_fields or classifications")
	}
	out := *c
	out.Fields = append([]Field(nil), c.Fields...)
	for name, class := range u.Classifications {
		i := fieldIndex(out.Fields, name)
		if i < 0 {
			return nil, FieldError("classifications", "unknown field "+name)
		}
		if !class.Valid() {
			return nil, FieldError("classifications", "field "+name+": classification must be public, internal, confidential, personal or secret")
		}
		out.Fields[i].Classification = class
	}
	// Existing records have no value for an added field, so an added field
	// may be unique at once; an added required field applies to new writes.
	out.Fields = append(out.Fields, u.AddFields...)
	if err := validateFields(out.Fields); err != nil {
		return nil, err
	}
	return &out, nil
}

func fieldIndex(fs []Field, name string) int {
	for i, f := range fs {
		if f.Name == name {
			return i
		}
	}
	return -1
}
