package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"gocloud.dev/blob"
	_ "gocloud.dev/blob/fileblob" // file:/// replicas, the default
	_ "gocloud.dev/blob/s3blob"   // s3:// replicas: AWS and S3-compatible servers
	"gocloud.dev/gcerrors"
	"golang.org/x/mod/sumdb/tlog"
)

// Replica is the independent copy of the log in blob storage (DATA-6): a
// separate directory by default, a bucket with its own credentials in
// production. It holds, under its prefix:
//
//	entries/<start>-<end>.jsonl   the leaves start..end-1, one per line
//	entries/<start>-<end>.hashes  their leaf hashes, hex, one per line
//	checkpoints/<size>            every signed checkpoint shipped
//	checkpoint                    the latest signed checkpoint
//
// Numbers are zero-padded to 20 digits, so names sort in log order. With
// the public key it is enough to verify everything (Verify, Source).
//
// Entries and checkpoints are written once: shipping never replaces an
// object with other bytes (ErrReplicaConflict), so a database rolled back
// and rewritten cannot overwrite the evidence already shipped. Only
// checkpoint is rewritten, and only by a larger one.
type Replica struct {
	bucket *blob.Bucket
	url    string
}

var _ Inspector = (*Replica)(nil)

// OpenReplica opens the replica at a gocloud.dev/blob URL, such as
// file:///var/lib/bulwark/audit-replica?create_dir=1 or
// s3://bucket?region=...&prefix=audit/.
func OpenReplica(ctx context.Context, rawURL string) (*Replica, error) {
	b, err := blob.OpenBucket(ctx, bucketURL(rawURL))
	if err != nil {
		return nil, fmt.Errorf("open audit replica: %w", err)
	}
	return &Replica{bucket: b, url: rawURL}, nil
}

// bucketURL has a file:// replica write each object's temporary file next
// to it (fileblob's no_tmp_dir) instead of in os.TempDir: an object is
// published by renaming its temporary file, and a rename fails across
// filesystems. A replica belongs on another disk than the database, and
// the default one is in the data directory: neither is often on the
// filesystem of /tmp, and then nothing was ever shipped.
func bucketURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "file" {
		return raw
	}
	q := u.Query()
	if q.Get("no_tmp_dir") == "" {
		q.Set("no_tmp_dir", "1")
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// Close closes the bucket.
func (r *Replica) Close() error { return r.bucket.Close() }

// Name implements Source.
func (r *Replica) Name() string { return "replica" }

// ErrReplicaConflict is a shipment refused because the replica already
// holds other bytes under the same name: the database's entries or
// checkpoint at that place changed after they were shipped.
var ErrReplicaConflict = errors.New("the audit replica already holds other content under this name")

// maxBundle is the most entries one bundle holds. The sequencer ships at
// most 8,192 an object (shipOnce); a name that claims more was not written
// by Bulwark, and nothing is sized by it.
const maxBundle = 1 << 16

func bundleName(start, end int64, ext string) string {
	return fmt.Sprintf("entries/%020d-%020d.%s", start, end, ext)
}

// PutBundle stores leaves start..start+len(leaves)-1 with their hashes.
// Shipping the same range again with the same bytes does nothing, so a
// retry after a partial failure is harmless; with other bytes it fails
// with ErrReplicaConflict and changes nothing.
func (r *Replica) PutBundle(ctx context.Context, start int64, leaves [][]byte, hashes []tlog.Hash) error {
	if len(leaves) != len(hashes) || len(leaves) == 0 || len(leaves) > maxBundle {
		return fmt.Errorf("audit replica: a bundle needs as many hashes as leaves, at least one and at most %d", maxBundle)
	}
	end := start + int64(len(leaves))
	// Hashes first: a bundle of entries is never visible without them.
	err := r.putOnce(ctx, bundleName(start, end, "hashes"), len(hashes)*(2*tlog.HashSize+1), func(w *bufio.Writer) error {
		var line [2*tlog.HashSize + 1]byte
		line[len(line)-1] = '\n'
		for _, h := range hashes {
			hex.Encode(line[:], h[:])
			if _, err := w.Write(line[:]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ship audit hashes %d-%d: %w", start, end, err)
	}
	err = r.putOnce(ctx, bundleName(start, end, "jsonl"), 64<<10, func(w *bufio.Writer) error {
		for _, l := range leaves {
			if _, err := w.Write(l); err != nil {
				return err
			}
			if err := w.WriteByte('\n'); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ship audit entries %d-%d: %w", start, end, err)
	}
	return nil
}

// put writes one object of about size bytes, streamed through a buffer: a
// bundle is written in 64 KiB pieces rather than laid out whole in memory
// first (a round of
// a few thousand entries was megabytes allocated and zeroed for nothing).
// Unlike Bucket.WriteAll it computes no MD5 of the content (twice, for a
// Content-MD5 header): what is shipped carries its own SHA-256 tree
// hashes and signed checkpoints, which verification checks, and the
// transport to S3 is TLS. The content type is given, so nothing is
// sniffed. If fill or a write fails, the object is not created.
func (r *Replica) put(ctx context.Context, key string, size int, fill func(*bufio.Writer) error) error {
	return r.write(ctx, key, size, false, fill)
}

// putOnce is put for an object that is written once: if key exists with
// the bytes fill writes, it does nothing; with other bytes, it fails with
// ErrReplicaConflict. The write itself is conditional too (IfNotExist:
// If-None-Match on S3, a check before the rename on file://), for a
// writer that races this one; the read before it covers a store that
// ignores the condition.
func (r *Replica) putOnce(ctx context.Context, key string, size int, fill func(*bufio.Writer) error) error {
	if exists, err := r.holds(ctx, key, fill); exists || err != nil {
		return err
	}
	err := r.write(ctx, key, size, true, fill)
	if gcerrors.Code(err) == gcerrors.FailedPrecondition {
		// Written meanwhile: the same shipment retried, or not.
		if exists, herr := r.holds(ctx, key, fill); exists || herr != nil {
			return herr
		}
	}
	return err
}

// holds reports whether key exists; if it does with other bytes than
// fill writes, it fails with ErrReplicaConflict.
func (r *Replica) holds(ctx context.Context, key string, fill func(*bufio.Writer) error) (bool, error) {
	got, err := r.bucket.ReadAll(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	var want bytes.Buffer
	w := bufio.NewWriter(&want)
	if err := fill(w); err != nil {
		return true, err
	}
	if err := w.Flush(); err != nil {
		return true, err
	}
	if !bytes.Equal(got, want.Bytes()) {
		return true, fmt.Errorf("%w: %s", ErrReplicaConflict, key)
	}
	return true, nil
}

func (r *Replica) write(ctx context.Context, key string, size int, once bool, fill func(*bufio.Writer) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := r.bucket.NewWriter(ctx, key, &blob.WriterOptions{ContentType: "text/plain; charset=utf-8", IfNotExist: once})
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(w, min(size, 64<<10))
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		cancel() // abort: nothing half-written becomes the object
		w.Close()
		return err
	}
	return w.Close()
}

// PutCheckpoint stores a signed checkpoint, after the entries it covers,
// once: another checkpoint of the same size fails with
// ErrReplicaConflict. The latest checkpoint is replaced only by a larger
// one (one shipped again, or late, leaves it).
func (r *Replica) PutCheckpoint(ctx context.Context, cp *Checkpoint) error {
	fill := func(w *bufio.Writer) error {
		_, err := w.Write(cp.Note)
		return err
	}
	if err := r.putOnce(ctx, fmt.Sprintf("checkpoints/%020d", cp.Size), len(cp.Note), fill); err != nil {
		return fmt.Errorf("ship audit checkpoint %d: %w", cp.Size, err)
	}
	latest, err := r.Latest(ctx)
	if err != nil {
		return fmt.Errorf("read the latest audit checkpoint: %w", err)
	}
	// Its size line, unverified: only the replica's own credentials write
	// here, and the sequencer checks the signature before trusting it.
	if latest != nil {
		switch n := claimedSize(latest); {
		case n > cp.Size:
			return nil
		case n == cp.Size && !bytes.Equal(latest, cp.Note):
			return fmt.Errorf("ship latest audit checkpoint: %w: checkpoint holds another of size %d", ErrReplicaConflict, n)
		case n == cp.Size:
			return nil
		}
	}
	if err := r.put(ctx, "checkpoint", len(cp.Note), fill); err != nil {
		return fmt.Errorf("ship latest audit checkpoint: %w", err)
	}
	return nil
}

// Checkpoints implements Source.
func (r *Replica) Checkpoints(ctx context.Context) ([][]byte, error) {
	var out [][]byte
	it := r.bucket.List(&blob.ListOptions{Prefix: "checkpoints/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if _, err := strconv.ParseUint(strings.TrimPrefix(obj.Key, "checkpoints/"), 10, 64); err != nil {
			// Not a checkpoint: a temporary file left by a write that
			// was cut off (file:// replicas keep them beside the objects).
			continue
		}
		b, err := r.bucket.ReadAll(ctx, obj.Key)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// Latest returns the latest checkpoint the replica holds, nil if none.
func (r *Replica) Latest(ctx context.Context) ([]byte, error) {
	b, err := r.bucket.ReadAll(ctx, "checkpoint")
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, nil
	}
	return b, err
}

type bundle struct{ start, end int64 }

// parseBundle returns the range that key, an object under entries/ ending
// in .jsonl, names, if a shipment could have written it:
// entries/<start>-<end>.jsonl, both numbers of 20 digits, start < end, at
// most maxBundle entries.
func parseBundle(key string) (b bundle, ok bool) {
	name, _ := strings.CutSuffix(strings.TrimPrefix(key, "entries/"), ".jsonl")
	s, e, found := strings.Cut(name, "-")
	if !found || len(s) != 20 || len(e) != 20 {
		return bundle{}, false
	}
	var err1, err2 error
	b.start, err1 = strconv.ParseInt(s, 10, 64)
	b.end, err2 = strconv.ParseInt(e, 10, 64)
	if err1 != nil || err2 != nil || b.start < 0 || b.end <= b.start || b.end-b.start > maxBundle {
		return bundle{}, false
	}
	return b, true
}

// bundles returns a chain of bundles from 0: at each position the one
// reaching furthest (a re-shipped range may overlap an earlier one). An
// object whose name no shipment writes is left out of it, and returned
// as a problem instead: a range read from a name sizes nothing.
func (r *Replica) bundles(ctx context.Context) ([]bundle, []Problem, error) {
	best := map[int64]int64{}
	var bad []Problem
	it := r.bucket.List(&blob.ListOptions{Prefix: "entries/"})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, err
		}
		if !strings.HasSuffix(obj.Key, ".jsonl") {
			continue // hashes, read with their entries; temporary files
		}
		b, ok := parseBundle(obj.Key)
		if !ok {
			var claimed int64
			if s, _, found := strings.Cut(strings.TrimPrefix(obj.Key, "entries/"), "-"); found {
				claimed, _ = strconv.ParseInt(s, 10, 64)
			}
			bad = append(bad, Problem{Source: r.Name(), Index: max(claimed, 0), Kind: Malformed, Object: obj.Key,
				Detail: fmt.Sprintf("the object %s is not a bundle that a shipment writes (entries/<start>-<end>.jsonl, numbers of 20 digits, 1 to %d entries); its entries are not read", obj.Key, maxBundle)})
			continue
		}
		if b.end > best[b.start] {
			best[b.start] = b.end
		}
	}
	var out []bundle
	for pos := int64(0); ; {
		end, ok := best[pos]
		if !ok {
			// Overlap: a bundle may start inside the last one.
			var starts []int64
			for s, e := range best {
				if s < pos && e > pos {
					starts = append(starts, s)
				}
			}
			if len(starts) == 0 {
				return out, bad, nil
			}
			sort.Slice(starts, func(i, j int) bool { return best[starts[i]] > best[starts[j]] })
			out = append(out, bundle{starts[0], best[starts[0]]})
			pos = best[starts[0]]
			continue
		}
		out = append(out, bundle{pos, end})
		pos = end
	}
}

// Malformed implements Inspector: the objects under entries/ that are
// not what a shipment writes.
func (r *Replica) Malformed(ctx context.Context) ([]Problem, error) {
	_, bad, err := r.bundles(ctx)
	return bad, err
}

// Size implements Source: the end of the contiguous entries from 0.
func (r *Replica) Size(ctx context.Context) (int64, error) {
	bs, _, err := r.bundles(ctx)
	if err != nil || len(bs) == 0 {
		return 0, err
	}
	return bs[len(bs)-1].end, nil
}

// Leaves implements Source.
func (r *Replica) Leaves(ctx context.Context, size int64, fn func(int64, []byte, *tlog.Hash) error) error {
	bs, _, err := r.bundles(ctx)
	if err != nil {
		return err
	}
	pos := int64(0)
	for _, b := range bs {
		if pos >= size {
			break
		}
		want := b.end - b.start // at most maxBundle (parseBundle)
		// One line more than the range, to tell a bundle with lines added.
		leaves, err := r.readLines(ctx, bundleName(b.start, b.end, "jsonl"), int(want)+1)
		if err != nil {
			return err
		}
		hashLines, err := r.readLines(ctx, bundleName(b.start, b.end, "hashes"), int(want))
		if err != nil {
			return err
		}
		// A bundle with lines removed or added: place each leaf by its
		// own number (the first one of each number).
		var bySeq map[int64][]byte
		if int64(len(leaves)) != want {
			bySeq = make(map[int64][]byte, len(leaves))
			for _, l := range leaves {
				if e, err := ParseLeaf(l); err == nil && e.Seq >= b.start && e.Seq < b.end && bySeq[e.Seq] == nil {
					bySeq[e.Seq] = l
				}
			}
		}
		for i := int64(0); i < want; i++ {
			idx := b.start + i
			if idx < pos {
				continue
			}
			if idx >= size {
				break
			}
			leaf := bySeq[idx]
			if bySeq == nil {
				leaf = leaves[i]
			}
			var claimed *tlog.Hash
			if i < int64(len(hashLines)) {
				if h, err := hex.DecodeString(string(hashLines[i])); err == nil && len(h) == tlog.HashSize {
					claimed = new(tlog.Hash)
					copy(claimed[:], h)
				}
			}
			if err := fn(idx, leaf, claimed); err != nil {
				return err
			}
			pos = idx + 1
		}
	}
	for ; pos < size; pos++ {
		if err := fn(pos, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// readLines reads up to max lines of the object key (none if it does not
// exist), streamed: what is read is bounded by max, not by the object.
func (r *Replica) readLines(ctx context.Context, key string, max int) ([][]byte, error) {
	rd, err := r.bucket.NewReader(ctx, key, nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer rd.Close()
	var out [][]byte
	s := bufio.NewScanner(rd)
	s.Buffer(make([]byte, 64*1024), 16<<20)
	for len(out) < max && s.Scan() {
		out = append(out, bytes.Clone(s.Bytes()))
	}
	return out, s.Err()
}
