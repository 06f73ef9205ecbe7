package keys

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/tink-crypto/tink-go/v2/aead"
	"github.com/tink-crypto/tink-go/v2/insecurecleartextkeyset"
	"github.com/tink-crypto/tink-go/v2/keyset"
	"github.com/tink-crypto/tink-go/v2/tink"

	"github.com/bulwarkhq/bulwark"
)

// FileKeeper is the default keeper: the KEK is a Tink AEAD keyset
// (AES256-GCM) in a JSON file that only its owner may read. It suits the
// embedded deployment, where the file sits in the data directory; in
// production a KMS keeps the KEK out of the host's disk and memory.
//
// The file is re-read when it changes, so `bulwark keys rotate-kek` run
// beside a serving process takes effect there too.
type FileKeeper struct {
	path string

	mu    sync.Mutex
	stamp fileStamp
	h     *keyset.Handle
	a     tink.AEAD

	_ [0]func() // not comparable
}

type fileStamp struct {
	size  int64
	mtime time.Time
	ino   uint64
}

func stampOf(fi fs.FileInfo) fileStamp {
	s := fileStamp{size: fi.Size(), mtime: fi.ModTime()}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		s.ino = st.Ino
	}
	return s
}

// OpenFile opens the KEK file at path, creating it with a fresh key (mode
// 0600) if it does not exist. A file that group or others may read or
// write is refused: the KEK may already have leaked, and it is for the
// operator to decide what to do, not for Bulwark to fix silently.
func OpenFile(path string) (*FileKeeper, error) {
	if !filepath.IsAbs(path) {
		return nil, bulwark.Errorf(bulwark.EInvalid, "the KEK file path must be absolute: file:///path/kek.json")
	}
	k := &FileKeeper{path: path}
	if _, err := os.Lstat(path); errors.Is(err, fs.ErrNotExist) {
		if err := createKEKFile(path); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
	}
	if err := k.load(); err != nil {
		return nil, err
	}
	return k, nil
}

// createKEKFile writes a new KEK keyset to path atomically: to a private
// temporary file first, then linked into place, which fails if another
// process made the file meanwhile (it wins, and both use its key).
func createKEKFile(path string) error {
	h, err := keyset.NewHandle(aead.AES256GCMKeyTemplate())
	if err != nil {
		return fmt.Errorf("create KEK: %w", err)
	}
	tmp, err := writeKEKTemp(path, h)
	if err != nil {
		return err
	}
	defer os.Remove(tmp)
	if err := os.Link(tmp, path); err != nil {
		return fmt.Errorf("create KEK file: %w", err)
	}
	return syncDir(filepath.Dir(path))
}

func writeKEKTemp(path string, h *keyset.Handle) (string, error) {
	var buf bytes.Buffer
	if err := insecurecleartextkeyset.Write(h, keyset.NewJSONWriter(&buf)); err != nil {
		return "", fmt.Errorf("encode KEK: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", fmt.Errorf("create KEK directory: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".kek-*.tmp")
	if err != nil {
		return "", fmt.Errorf("create KEK file: %w", err)
	}
	name := f.Name()
	// CreateTemp makes the file 0600 already; Chmod states it.
	err = errors.Join(f.Chmod(0o600), write(f, buf.Bytes()), f.Sync(), f.Close())
	if err != nil {
		os.Remove(name)
		return "", fmt.Errorf("write KEK file: %w", err)
	}
	return name, nil
}

func write(f *os.File, b []byte) error { _, err := f.Write(b); return err }

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// load reads the file if it changed since the last read. It holds k.mu.
func (k *FileKeeper) load() error {
	fi, err := os.Lstat(k.path)
	if err != nil {
		return bulwark.Errorf(bulwark.EFailedPrecondition, "cannot read the KEK file %s: %v", k.path, err)
	}
	if !fi.Mode().IsRegular() {
		return bulwark.Errorf(bulwark.EFailedPrecondition, "the KEK file %s is not a regular file", k.path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return bulwark.Errorf(bulwark.EFailedPrecondition,
			"the KEK file %s has mode %04o: group or others can reach it, so the key may have leaked; it must be 0600 (check who read it, then run: chmod 600 %s)",
			k.path, perm, k.path)
	}
	st := stampOf(fi)
	if k.h != nil && st == k.stamp {
		return nil
	}
	f, err := os.Open(k.path)
	if err != nil {
		return bulwark.Errorf(bulwark.EFailedPrecondition, "cannot read the KEK file %s: %v", k.path, err)
	}
	defer f.Close()
	h, err := insecurecleartextkeyset.Read(keyset.NewJSONReader(f))
	if err != nil {
		return &bulwark.Error{Code: bulwark.EFailedPrecondition, Message: "the KEK file " + k.path + " is not a Tink AEAD keyset", Err: err}
	}
	a, err := aead.New(h)
	if err != nil {
		return &bulwark.Error{Code: bulwark.EFailedPrecondition, Message: "the KEK file " + k.path + " is not a Tink AEAD keyset", Err: err}
	}
	k.h, k.a, k.stamp = h, a, st
	return nil
}

// EncryptWithContext encrypts with the primary KEK version.
func (k *FileKeeper) EncryptWithContext(_ context.Context, pt, ad []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.load(); err != nil {
		return nil, err
	}
	return k.a.Encrypt(pt, ad)
}

// DecryptWithContext decrypts with whichever KEK version encrypted ct.
func (k *FileKeeper) DecryptWithContext(_ context.Context, ct, ad []byte) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.load(); err != nil {
		return nil, err
	}
	pt, err := k.a.Decrypt(ct, ad)
	if err != nil {
		// With a local key, a failure is never an outage: the ciphertext
		// or its associated data is not what the key sealed.
		return nil, fmt.Errorf("%w: %v", ErrOpen, err)
	}
	return pt, nil
}

// KeyID is file://PATH#ID, ID being the primary KEK version's key id.
func (k *FileKeeper) KeyID() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.load(); err != nil {
		return "file://" + k.path
	}
	return "file://" + k.path + "#" + strconv.FormatUint(uint64(k.h.KeysetInfo().GetPrimaryKeyId()), 10)
}

// VersionOf reads the KEK version from ct's Tink prefix (the key id),
// named as KeyID names it.
func (k *FileKeeper) VersionOf(ct []byte) (string, bool) {
	id, ok := KeyIDOf(ct)
	if !ok {
		return "", false
	}
	return "file://" + k.path + "#" + strconv.FormatUint(uint64(id), 10), true
}

// Close releases nothing: the file is read on demand.
func (k *FileKeeper) Close() error { return nil }

// RotateKEK adds a new primary key to the KEK file; older keys stay
// enabled so keysets they wrapped still open until re-wrapped.
func (k *FileKeeper) RotateKEK(context.Context) error {
	return k.rewrite(func(m *keyset.Manager, h *keyset.Handle) error {
		id, err := m.Add(aead.AES256GCMKeyTemplate())
		if err != nil {
			return err
		}
		return m.SetPrimary(id)
	})
}

// RetireKEK disables every KEK version but the primary.
func (k *FileKeeper) RetireKEK(context.Context) error {
	return k.rewrite(func(m *keyset.Manager, h *keyset.Handle) error {
		info := h.KeysetInfo()
		for _, ki := range info.GetKeyInfo() {
			if ki.GetKeyId() != info.GetPrimaryKeyId() && ki.GetStatus().String() == "ENABLED" {
				if err := m.Disable(ki.GetKeyId()); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// rewrite changes the KEK keyset and replaces the file atomically
// (temporary file, fsync, rename, fsync of the directory): a crash leaves
// either the old file or the new one.
func (k *FileKeeper) rewrite(change func(*keyset.Manager, *keyset.Handle) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.load(); err != nil {
		return err
	}
	m := keyset.NewManagerFromHandle(k.h)
	if err := change(m, k.h); err != nil {
		return fmt.Errorf("change KEK keyset: %w", err)
	}
	h, err := m.Handle()
	if err != nil {
		return fmt.Errorf("change KEK keyset: %w", err)
	}
	tmp, err := writeKEKTemp(k.path, h)
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, k.path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("replace KEK file: %w", err)
	}
	if err := syncDir(filepath.Dir(k.path)); err != nil {
		return fmt.Errorf("replace KEK file: %w", err)
	}
	k.h = nil // force a re-read, which also records the new stamp
	return k.load()
}

// Versions lists the KEK versions in the file, for the inventory.
func (k *FileKeeper) Versions() ([]KeyInfo, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.load(); err != nil {
		return nil, err
	}
	return infoOf(k.h.KeysetInfo()), nil
}

// Path is the KEK file's path.
func (k *FileKeeper) Path() string { return k.path }

// The KEK must never be printed, logged or marshalled.
func (k *FileKeeper) String() string   { return "keys.FileKeeper(" + k.path + ")" }
func (k *FileKeeper) GoString() string { return k.String() }
func (k *FileKeeper) Format(f fmt.State, _ rune) {
	f.Write([]byte(k.String()))
}
func (k *FileKeeper) MarshalJSON() ([]byte, error) {
	return nil, errors.New("keys: a keeper cannot be marshalled")
}
