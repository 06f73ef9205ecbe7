package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"math"
	"strconv"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// Brute-force defence (AUTH-7, NIST SP 800-63B-4 §3.2.2). Failures are
// counted in the database, so the limit holds across nodes. Each attempt
// is counted before the password is checked, so a burst of parallel
// guesses cannot slip past the counter, and a success clears it. The
// counter key is a hash of the account name, whether or not the account
// exists: unknown and known accounts are throttled alike (no enumeration).
const (
	// FreeFailures are allowed before any delay.
	FreeFailures = 5
	// MaxThrottleDelay caps the progressive delay between attempts.
	MaxThrottleDelay = 15 * time.Minute
	// LockoutFailures is the hard limit (NIST: at most 100 consecutive
	// failures): after it, only a password reset (or an admin) unlocks.
	LockoutFailures = 100
)

var errThrottled = bulwark.Errorf(bulwark.ERateLimited, "too many failed attempts: wait a while and retry, or reset your password")

// throttleDelay is the wait imposed after n consecutive failures.
func throttleDelay(n int) time.Duration {
	if n < FreeFailures {
		return 0
	}
	e := n - FreeFailures
	if e > 20 {
		return MaxThrottleDelay
	}
	return min(time.Second<<e, MaxThrottleDelay)
}

// FailureKey names a counter: kind ("user", "operator", "totp") and the
// account's identifying parts, hashed.
func FailureKey(kind string, parts ...string) string {
	h := sha256.New()
	h.Write([]byte(kind))
	for _, p := range parts {
		h.Write([]byte{0})
		h.Write([]byte(p))
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil))
}

// Attempt counts one attempt against key. It fails with rate_limited,
// without counting, while the key is throttled or locked.
func (db *DB) Attempt(ctx context.Context, key string) error {
	return db.inGlobal(ctx, true, func(t *globalTx) error { t.keepAuth = true; return t.attempt(key) })
}

// attemptSQL counts one failure against a key and returns the new count,
// in one statement, so the block check and the increment are atomic: on
// PostgreSQL a concurrent attempt on the same key waits on the row lock,
// held until the transaction ends, and judges the count and the block
// this one wrote (SQLite has a single writer). A key that is throttled or
// locked is left as it is and no row is returned. attempt then sets the
// block the new count earns, under the same lock.
var attemptSQL = `INSERT INTO login_failures (key, failures, last_at, blocked_until) VALUES (?, 1, ?, ?)
	ON CONFLICT (key) DO UPDATE SET failures = login_failures.failures + 1, last_at = excluded.last_at
	WHERE login_failures.failures < ` + strconv.Itoa(LockoutFailures) + ` AND login_failures.blocked_until <= excluded.last_at
	RETURNING failures`

// blockedUntil is when the next attempt is allowed after n consecutive
// failures, the last at now (microseconds).
func blockedUntil(n int, now int64) int64 {
	if n >= LockoutFailures {
		return math.MaxInt64
	}
	return now + throttleDelay(n).Microseconds()
}

func (t *tx) attempt(key string) error {
	now := micros(t.now)
	var n int
	err := t.queryRow(attemptSQL, key, now, blockedUntil(1, now)).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return errThrottled
	}
	if err != nil {
		return err
	}
	if n > 1 {
		if _, err := t.exec("UPDATE login_failures SET blocked_until = ? WHERE key = ?", blockedUntil(n, now), key); err != nil {
			return err
		}
	}
	if n == 1 {
		// A new key: forget stale ones, so guessing at made-up accounts
		// cannot grow the table without bound. Counters lapse a day after
		// their last failure, lockouts after thirty.
		if _, err := t.exec("DELETE FROM login_failures WHERE (last_at < ? AND failures < ?) OR last_at < ?",
			now-(24*time.Hour).Microseconds(), LockoutFailures, now-(30*24*time.Hour).Microseconds()); err != nil {
			return err
		}
	}
	return nil
}

// ClearFailures forgets key's failures, after a success.
func (db *DB) ClearFailures(ctx context.Context, key string) error {
	return db.inGlobal(ctx, true, func(t *globalTx) error { t.keepAuth = true; return t.clearFailures(key) })
}

func (t *tx) clearFailures(key string) error {
	_, err := t.exec("DELETE FROM login_failures WHERE key = ?", key)
	return err
}

// Failures returns key's consecutive failure count (for tests and the
// admin view).
func (db *DB) Failures(ctx context.Context, key string) (int, error) {
	var n int
	err := db.inGlobal(ctx, false, func(t *globalTx) error {
		err := t.queryRow("SELECT failures FROM login_failures WHERE key = ?", key).Scan(&n)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		return err
	})
	return n, err
}

func userKey(slug, email string) string { return FailureKey("user", slug, email) }

func operatorKey(email string) string { return FailureKey("operator", email) }
