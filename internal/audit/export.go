package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"golang.org/x/mod/sumdb/tlog"
)

// A tenant export is JSON Lines (DATA-7): a header holding one signed
// checkpoint, then every entry of the tenant up to that checkpoint's size,
// each with its inclusion proof. VerifyExport checks it offline with the
// public key alone, so a customer can see that what they were given is in
// the log that the vendor cannot rewrite.
//
//	{"type":"checkpoint","tenant":"...","checkpoint":"<signed note>"}
//	{"type":"entry","index":12,"leaf":{...},"proof":["<base64 hash>",...]}

// ExportHeader is the first line of an export.
type ExportHeader struct {
	Type       string `json:"type"`
	Tenant     string `json:"tenant"`
	Checkpoint string `json:"checkpoint"`
}

// ExportEntry is one entry line.
type ExportEntry struct {
	Type  string          `json:"type"`
	Index int64           `json:"index"`
	Leaf  json.RawMessage `json:"leaf"`
	Proof []tlog.Hash     `json:"proof"`
}

// ExportWriter writes an export.
type ExportWriter struct {
	w   *bufio.Writer
	cp  *Checkpoint
	err error
}

// NewExportWriter writes the header for tenant and checkpoint cp.
func NewExportWriter(w io.Writer, tenant string, cp *Checkpoint) *ExportWriter {
	ew := &ExportWriter{w: bufio.NewWriter(w), cp: cp}
	ew.line(ExportHeader{Type: "checkpoint", Tenant: tenant, Checkpoint: string(cp.Note)})
	return ew
}

func (ew *ExportWriter) line(v any) {
	if ew.err != nil {
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		ew.err = err
		return
	}
	b = append(b, '\n')
	_, ew.err = ew.w.Write(b)
}

// Add writes the entry at index with its inclusion proof.
func (ew *ExportWriter) Add(index int64, leaf []byte, proof tlog.RecordProof) error {
	if index >= ew.cp.Size {
		return fmt.Errorf("entry %d is beyond the export's checkpoint (size %d)", index, ew.cp.Size)
	}
	ew.line(ExportEntry{Type: "entry", Index: index, Leaf: leaf, Proof: proof})
	return ew.err
}

// Close flushes the export.
func (ew *ExportWriter) Close() error {
	if ew.err != nil {
		return ew.err
	}
	return ew.w.Flush()
}

// ExportReport is what VerifyExport found.
type ExportReport struct {
	Tenant     string
	Checkpoint *Checkpoint
	Entries    int
}

// ExportError names the line and index that failed.
type ExportError struct {
	Line  int
	Index int64
	Err   error
}

func (e *ExportError) Error() string {
	return fmt.Sprintf("line %d (index %d): %v", e.Line, e.Index, e.Err)
}

func (e *ExportError) Unwrap() error { return e.Err }

// VerifyExport checks an export offline: the checkpoint's signature, and
// for every entry that its leaf is canonical, numbered as its position,
// belongs to the export's tenant, and is proven included in the signed
// tree. Entries must be in increasing index order, without repeats.
func VerifyExport(r io.Reader, v *Verifier) (*ExportReport, error) {
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64*1024), 16<<20)
	if !s.Scan() {
		if err := s.Err(); err != nil {
			return nil, err
		}
		return nil, errors.New("the export is empty")
	}
	var h ExportHeader
	if err := json.Unmarshal(s.Bytes(), &h); err != nil || h.Type != "checkpoint" {
		return nil, &ExportError{Line: 1, Index: -1, Err: errors.New("the first line is not a checkpoint header")}
	}
	cp, err := v.Open([]byte(h.Checkpoint))
	if err != nil {
		return nil, &ExportError{Line: 1, Index: -1, Err: err}
	}
	rep := &ExportReport{Tenant: h.Tenant, Checkpoint: cp}
	last := int64(-1)
	for line := 2; s.Scan(); line++ {
		var e ExportEntry
		if err := json.Unmarshal(s.Bytes(), &e); err != nil || e.Type != "entry" {
			return rep, &ExportError{Line: line, Index: -1, Err: errors.New("not an entry line")}
		}
		fail := func(format string, args ...any) error {
			return &ExportError{Line: line, Index: e.Index, Err: fmt.Errorf(format, args...)}
		}
		if e.Index <= last {
			return rep, fail("entries out of order or repeated (after index %d)", last)
		}
		last = e.Index
		leaf, err := ParseLeaf(e.Leaf)
		if err != nil {
			return rep, fail("%v", err)
		}
		if leaf.Seq != e.Index {
			return rep, fail("the entry says it is number %d", leaf.Seq)
		}
		if leaf.Tenant != h.Tenant {
			return rep, fail("the entry belongs to another tenant")
		}
		if e.Index >= cp.Size {
			return rep, fail("beyond the checkpoint's size %d", cp.Size)
		}
		if err := tlog.CheckRecord(e.Proof, cp.Size, cp.Root, e.Index, tlog.RecordHash(e.Leaf)); err != nil {
			return rep, fail("inclusion proof does not verify against the signed checkpoint: %v", err)
		}
		rep.Entries++
	}
	return rep, s.Err()
}
