package keys

import (
	"fmt"
	"sort"
	"strings"

	tinkpb "github.com/tink-crypto/tink-go/v2/proto/tink_go_proto"
	"google.golang.org/protobuf/proto"
)

// Key statuses in the inventory.
const (
	StatusPrimary   = "primary"   // seals new values
	StatusEnabled   = "enabled"   // still opens values sealed under it
	StatusDisabled  = "disabled"  // opens nothing; kept so it can be re-enabled
	StatusDestroyed = "destroyed" // the keyset is gone (crypto-shredded)
)

// KeyInfo describes one key of a keyset. It holds no key material.
type KeyInfo struct {
	ID        uint32 `json:"id"`
	Status    string `json:"status"`
	Algorithm string `json:"algorithm"`
}

func algorithmOf(typeURL string) string {
	switch {
	case strings.HasSuffix(typeURL, ".AesGcmKey"):
		return AlgData
	case strings.HasSuffix(typeURL, ".HmacPrfKey"):
		return AlgIndex
	}
	return strings.TrimPrefix(typeURL, "type.googleapis.com/google.crypto.tink.")
}

func infoOf(info *tinkpb.KeysetInfo) []KeyInfo {
	var out []KeyInfo
	for _, ki := range info.GetKeyInfo() {
		st := StatusDisabled
		switch {
		case ki.GetStatus() != tinkpb.KeyStatusType_ENABLED:
		case ki.GetKeyId() == info.GetPrimaryKeyId():
			st = StatusPrimary
		default:
			st = StatusEnabled
		}
		out = append(out, KeyInfo{ID: ki.GetKeyId(), Status: st, Algorithm: algorithmOf(ki.GetTypeUrl())})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Inspect lists the keys of a wrapped keyset without unwrapping it: Tink
// stores the keyset's metadata (ids, status, type; never key material)
// beside the ciphertext. It needs no keeper, so the inventory works
// during a KMS outage.
func Inspect(w Wrapped) ([]KeyInfo, error) {
	ek, err := readEncrypted(w)
	if err != nil {
		return nil, err
	}
	return infoOf(ek.GetKeysetInfo()), nil
}

// PrimaryOf returns the primary key id of a wrapped keyset.
func PrimaryOf(w Wrapped) (uint32, error) {
	ek, err := readEncrypted(w)
	if err != nil {
		return 0, err
	}
	return ek.GetKeysetInfo().GetPrimaryKeyId(), nil
}

func readEncrypted(w Wrapped) (*tinkpb.EncryptedKeyset, error) {
	var ek tinkpb.EncryptedKeyset
	if err := proto.Unmarshal(w.Keyset, &ek); err != nil {
		return nil, fmt.Errorf("read wrapped keyset: %w", err)
	}
	return &ek, nil
}
