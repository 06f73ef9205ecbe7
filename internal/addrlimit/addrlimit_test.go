package addrlimit

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark"
)

var errLimited = errors.New("limited")

func from(addr string) context.Context {
	return bulwark.WithRequestInfo(context.Background(), bulwark.RequestInfo{ClientIP: addr})
}

// An address gets its burst, then one request per refill; other
// addresses, and requests without one, are not held back by it.
func TestLimiterBoundsEachAddress(t *testing.T) {
	l := New(1, 3, errLimited)
	now := time.Unix(1_700_000_000, 0)
	for i := range 3 {
		if err := l.Allow(from("192.0.2.1"), now); err != nil {
			t.Fatalf("request %d of the burst refused: %v", i+1, err)
		}
	}
	if err := l.Allow(from("192.0.2.1"), now); !errors.Is(err, errLimited) {
		t.Fatalf("a request past the burst = %v, want the limiter's error", err)
	}
	if err := l.Allow(from("192.0.2.2"), now); err != nil {
		t.Fatalf("another address refused: %v", err)
	}
	for range 10 {
		if err := l.Allow(context.Background(), now); err != nil {
			t.Fatalf("a request without an address refused: %v", err)
		}
	}
	if err := l.Allow(from("192.0.2.1"), now.Add(time.Second)); err != nil {
		t.Fatalf("a second later, one more request refused: %v", err)
	}
	if err := l.Allow(from("192.0.2.1"), now.Add(time.Second)); !errors.Is(err, errLimited) {
		t.Fatalf("two requests a second later = %v, want the second refused", err)
	}
}

// The table of addresses stays bounded: past maxAddrs it starts over.
func TestLimiterForgetsPastItsBound(t *testing.T) {
	l := New(1, 1, errLimited)
	now := time.Unix(1_700_000_000, 0)
	for i := range maxAddrs + 1 {
		if err := l.Allow(from("10.0."+strconv.Itoa(i/256)+"."+strconv.Itoa(i%256)), now); err != nil {
			t.Fatalf("address %d refused: %v", i, err)
		}
	}
	if n := len(l.m); n != 1 {
		t.Fatalf("%d addresses held after %d, want the table started over with 1", n, maxAddrs+1)
	}
}
