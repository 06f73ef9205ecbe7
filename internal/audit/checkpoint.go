package audit

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// Checkpoint is a signed statement of the tree's size and root hash, in
// the C2SP tlog-checkpoint format, as a signed note (C2SP signed-note).
type Checkpoint struct {
	Size int64
	Root tlog.Hash
	// Note is the signed note, exactly as signed: what is stored, shipped
	// and shown as proof.
	Note []byte
}

// Signer signs checkpoints with the log's Ed25519 key. Its origin line is
// the key's name, so a verifier key names the log it verifies.
type Signer struct {
	signer note.Signer
	vkey   string
}

// GenerateSigner makes a new signing key for origin and returns it with
// its two encodings: the private key (keep it secret) and the verifier
// key (publish it).
func GenerateSigner(origin string) (s *Signer, skey, vkey string, err error) {
	skey, vkey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return nil, "", "", fmt.Errorf("generate checkpoint key: %w", err)
	}
	s, err = NewSigner(skey, vkey)
	return s, skey, vkey, err
}

// NewSigner returns a signer from a note private key and its verifier key.
func NewSigner(skey, vkey string) (*Signer, error) {
	ns, err := note.NewSigner(skey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint signing key: %w", err)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, fmt.Errorf("checkpoint verifier key: %w", err)
	}
	// The two halves must belong together; a mismatch would sign
	// checkpoints that nobody could verify.
	msg := []byte("bulwark checkpoint key check\n")
	sig, err := ns.Sign(msg)
	if err != nil || v.Name() != ns.Name() || v.KeyHash() != ns.KeyHash() || !v.Verify(msg, sig) {
		return nil, errors.New("the checkpoint signing key and verifier key do not match")
	}
	return &Signer{signer: ns, vkey: vkey}, nil
}

// LoadOrCreateSigner reads the key file at path (two lines: private key,
// verifier key), creating it with mode 0600 on first start.
func LoadOrCreateSigner(path, origin string) (*Signer, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		_, skey, vkey, err := GenerateSigner(origin)
		if err != nil {
			return nil, err
		}
		if err := writeNew(path, []byte(skey+"\n"+vkey+"\n")); err != nil {
			return nil, fmt.Errorf("write checkpoint key: %w", err)
		}
		return LoadOrCreateSigner(path, origin)
	}
	if err != nil {
		return nil, fmt.Errorf("read checkpoint key: %w", err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 {
		return nil, fmt.Errorf("checkpoint key file %s: want two lines (private key, verifier key)", path)
	}
	return NewSigner(lines[0], lines[1])
}

// Origin is the log's origin line.
func (s *Signer) Origin() string { return s.signer.Name() }

// PublicKey returns the verifier key, the text `bulwark audit public-key`
// prints and `bulwark audit verify --public-key` reads.
func (s *Signer) PublicKey() string { return s.vkey }

// String never prints the private key.
func (s *Signer) String() string { return "audit.Signer{" + s.Origin() + "}" }

// Sign returns a signed checkpoint for a tree of size with root hash.
func (s *Signer) Sign(size int64, root tlog.Hash) (*Checkpoint, error) {
	text := log.Checkpoint{Origin: s.Origin(), Size: uint64(size), Hash: root[:]}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, s.signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return &Checkpoint{Size: size, Root: root, Note: signed}, nil
}

// Verifier checks checkpoints against a log's public keys: the current
// one and those it replaced (`bulwark audit rotate-key`), so a log whose
// checkpoints were signed by successive keys verifies from start to end.
// Every key names the same log (its origin line).
type Verifier struct {
	vs []note.Verifier
}

// NewVerifier parses one or more verifier keys ("origin+hash+key"). They
// must all name the same log and be different keys.
func NewVerifier(vkeys ...string) (*Verifier, error) {
	v := &Verifier{}
	seen := map[uint32]bool{}
	for _, k := range vkeys {
		nv, err := note.NewVerifier(strings.TrimSpace(k))
		if err != nil {
			return nil, fmt.Errorf("parse public key: %w", err)
		}
		if len(v.vs) > 0 && nv.Name() != v.vs[0].Name() {
			return nil, fmt.Errorf("the public keys name different logs (%q and %q): give the keys of one log", v.vs[0].Name(), nv.Name())
		}
		if seen[nv.KeyHash()] {
			continue // the same key twice (two files that overlap)
		}
		seen[nv.KeyHash()] = true
		v.vs = append(v.vs, nv)
	}
	if len(v.vs) == 0 {
		return nil, errors.New("no public key given")
	}
	return v, nil
}

// ReadVerifier reads the verifier keys in one or more files, one key per
// line (blank lines and lines starting with '#' are skipped), as
// `bulwark audit public-key --all` prints them.
func ReadVerifier(paths ...string) (*Verifier, error) {
	var keys []string
	for _, path := range paths {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read public key: %w", err)
		}
		n := 0
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			keys = append(keys, line)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("read public key: %s holds no key", path)
		}
	}
	return NewVerifier(keys...)
}

// Origin is the origin line the verifier accepts.
func (v *Verifier) Origin() string { return v.vs[0].Name() }

// Keys is the number of keys the verifier trusts.
func (v *Verifier) Keys() int { return len(v.vs) }

// Open checks a signed checkpoint: a signature by one of the keys, the
// origin line, the format. It returns the checkpoint or why it is not valid.
func (v *Verifier) Open(signed []byte) (*Checkpoint, error) {
	var cp *log.Checkpoint
	var err error
	for _, k := range v.vs {
		if cp, _, _, err = log.ParseCheckpoint(signed, k.Name(), k); err == nil {
			break
		}
	}
	if err != nil {
		if len(v.vs) > 1 {
			return nil, fmt.Errorf("checkpoint does not verify under any of the %d trusted keys: %w", len(v.vs), err)
		}
		return nil, fmt.Errorf("checkpoint does not verify: %w", err)
	}
	if len(cp.Hash) != tlog.HashSize || cp.Size > 1<<62 {
		return nil, errors.New("checkpoint has a malformed root hash or size")
	}
	var root tlog.Hash
	copy(root[:], cp.Hash)
	return &Checkpoint{Size: int64(cp.Size), Root: root, Note: bytes.Clone(signed)}, nil
}
