package password

import (
	"context"
	"strings"
	"testing"
	"time"
)

var fast = Params{Memory: 64, Time: 1, Threads: 1}

func TestHashVerify(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fast, 2)
	stored, err := h.Hash(ctx, "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stored, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Fatalf("unexpected PHC string %q", stored)
	}
	for _, c := range []struct {
		pw   string
		want bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"Correct horse battery staple", false}, // no case folding
		{"", false},
	} {
		ok, rehash, err := h.Verify(ctx, stored, c.pw)
		if err != nil || ok != c.want || rehash {
			t.Errorf("Verify(%q) = %v, %v, %v; want %v", c.pw, ok, rehash, err, c.want)
		}
	}
	// Two hashes of one password differ (random salt).
	again, _ := h.Hash(ctx, "correct horse battery staple")
	if again == stored {
		t.Error("salt is not random")
	}
}

func TestNoTruncation(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fast, 1)
	long := strings.Repeat("a", 200)
	stored, _ := h.Hash(ctx, long)
	changed := long[:99] + "b" + long[100:]
	if ok, _, _ := h.Verify(ctx, stored, changed); ok {
		t.Fatal("changing the 100th character still matched: the password is truncated")
	}
}

func TestRehashWhenParamsChange(t *testing.T) {
	ctx := context.Background()
	old := NewHasher(fast, 1)
	stored, _ := old.Hash(ctx, "pw-pw-pw-pw-pw-pw")
	stronger := NewHasher(Params{Memory: 128, Time: 2, Threads: 1}, 1)
	ok, rehash, err := stronger.Verify(ctx, stored, "pw-pw-pw-pw-pw-pw")
	if err != nil || !ok || !rehash {
		t.Fatalf("Verify = %v, %v, %v; want a match that asks for a rehash", ok, rehash, err)
	}
}

func TestMalformedNeverMatches(t *testing.T) {
	ctx := context.Background()
	h := NewHasher(fast, 1)
	for _, stored := range []string{"", "plain", "$argon2id$v=19$m=4194304,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"} {
		if ok, _, err := h.Verify(ctx, stored, ""); ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v", stored, ok, err)
		}
	}
}

func TestSaturationSheds(t *testing.T) {
	h := NewHasher(fast, 1)
	h.sem <- struct{}{} // the only slot is taken
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := h.Hash(ctx, "x"); err != ErrBusy {
		t.Fatalf("Hash with no free slot = %v, want ErrBusy", err)
	}
}
