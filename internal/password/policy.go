package password

import (
	_ "embed"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/bulwarkhq/bulwark"
)

// The blocklist is shipped with Bulwark and always on (NIST SP 800-63B-4
// §3.1.1.2: commonly used, expected or compromised values). It is small on
// purpose: with attempts throttled per account, a list of a few thousand
// entries covers the guesses an online attacker can make; the length floor
// does the rest.
//
//go:embed blocklist.txt
var blocklistText string

var (
	blockOnce  sync.Once
	blockSet   map[string]bool
	blockWords []string // alphabetic entries of 4+ letters, longest first
)

func loadBlocklist() {
	blockSet = map[string]bool{}
	for _, line := range strings.Split(blocklistText, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		blockSet[line] = true
		if sk := skeleton(line, 'i'); len(sk) >= 4 && sk == strings.Map(letterOnly, line) {
			blockWords = append(blockWords, sk)
		}
	}
	sort.Slice(blockWords, func(i, j int) bool { return len(blockWords[i]) > len(blockWords[j]) })
}

// Normalize applies Unicode NFKC, so the same password typed on two
// keyboards hashes the same. It never truncates or changes case.
func Normalize(pw string) string { return norm.NFKC.String(pw) }

// Context is what a password must not be built on: words tied to the
// tenant and the account (NIST's context-specific words).
type Context struct {
	TenantName, TenantSlug, Email string
}

// words returns the context words: the tenant's name (whole and by word),
// slug, the email's local part (whole and by part) and domain labels.
func (c Context) words(extra []string) []string {
	var out []string
	add := func(w string) {
		w = skeleton(w, 'i')
		if len(w) >= 3 {
			out = append(out, w)
		}
	}
	add(c.TenantName)
	for _, f := range strings.FieldsFunc(c.TenantName, notLetterDigit) {
		add(f)
	}
	add(c.TenantSlug)
	for _, f := range strings.FieldsFunc(c.TenantSlug, notLetterDigit) {
		add(f)
	}
	local, domain, _ := strings.Cut(c.Email, "@")
	add(local)
	for _, f := range strings.FieldsFunc(local, notLetterDigit) {
		add(f)
	}
	labels := strings.Split(domain, ".")
	for i, l := range labels {
		if i < len(labels)-1 { // not the TLD
			add(l)
		}
	}
	for _, w := range extra {
		add(w)
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func notLetterDigit(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

func letterOnly(r rune) rune {
	if unicode.IsLetter(r) {
		return r
	}
	return -1
}

// skeleton lowercases s, undoes common character substitutions (p@ssw0rd)
// and keeps letters only, so decorations do not hide a blocked word.
// one is what '1' stands for ('i' or 'l').
func skeleton(s string, one rune) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch r {
		case '0':
			r = 'o'
		case '1':
			r = one
		case '3':
			r = 'e'
		case '4', '@':
			r = 'a'
		case '5', '$':
			r = 's'
		case '7':
			r = 't'
		case '8':
			r = 'b'
		case '9':
			r = 'g'
		}
		if unicode.IsLetter(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// minResidue is how many letters must remain once blocked and context
// words are taken out: fewer means the password is a blocked word with
// decorations ("Acme2026!!", "Password123456").
const minResidue = 5

func reject(reason string) error { return bulwark.FieldError("password", reason) }

// Check evaluates pw against policy p for an account in context c. It is
// called when a password is set, changed or reset, never at login. pw is
// the raw input; the error names the rule that failed, as NIST asks.
// Reuse history is checked by the caller, which holds the old hashes.
func Check(p bulwark.PasswordPolicy, c Context, pw string) error {
	if len(pw) > bulwark.MaxPasswordBytes {
		return reject("must be at most 1024 bytes")
	}
	if !utf8.ValidString(pw) {
		return reject("must be valid UTF-8")
	}
	pw = Normalize(pw)
	min := max(p.MinLength, bulwark.MinPasswordLenMFA)
	n := utf8.RuneCountInString(pw)
	if n < min {
		return reject("must be at least " + strconv.Itoa(min) + " characters; a passphrase of a few unrelated words is long and easy to remember")
	}
	if err := checkClasses(p, pw); err != nil {
		return err
	}
	lower := strings.ToLower(pw)
	blockOnce.Do(loadBlocklist)
	if blockSet[lower] || blockSet[strings.Join(strings.Fields(lower), "")] {
		return reject("is a commonly used password; choose something less predictable")
	}
	if distinct(lower) < 5 {
		return reject("uses too few different characters")
	}
	if sequential(lower) {
		return reject("is a keyboard or alphabet sequence")
	}
	ctxWords := c.words(p.BlockedWords)
	// Three readings: letters only (digits are decoration), and digits
	// read as letters with '1' as i or l (p@ssw0rd).
	for _, residue := range []string{strings.Map(letterOnly, lower), skeleton(pw, 'i'), skeleton(pw, 'l')} {
		for _, w := range ctxWords {
			if strings.Contains(residue, w) {
				residue = strings.ReplaceAll(residue, w, "")
				if len(residue) < minResidue {
					return reject("is built on \"" + w + "\", a word tied to this organisation or account; choose something unrelated")
				}
			}
		}
		var hit string
		for _, w := range blockWords {
			if strings.Contains(residue, w) {
				residue = strings.ReplaceAll(residue, w, "")
				hit = w
			}
			if len(residue) < minResidue && hit != "" {
				return reject("is a commonly used password (\"" + hit + "\") with small changes; choose something less predictable")
			}
		}
	}
	return nil
}

func checkClasses(p bulwark.PasswordPolicy, pw string) error {
	var lower, upper, digit, symbol bool
	for _, r := range pw {
		switch {
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case unicode.IsDigit(r):
			digit = true
		default:
			symbol = true
		}
	}
	switch {
	case p.RequireLower && !lower:
		return reject("must contain a lowercase letter (this organisation's policy)")
	case p.RequireUpper && !upper:
		return reject("must contain an uppercase letter (this organisation's policy)")
	case p.RequireDigit && !digit:
		return reject("must contain a digit (this organisation's policy)")
	case p.RequireSymbol && !symbol:
		return reject("must contain a symbol (this organisation's policy)")
	}
	return nil
}

func distinct(s string) int {
	seen := map[rune]bool{}
	for _, r := range s {
		seen[r] = true
	}
	return len(seen)
}

// sequential reports whether s, ignoring spaces, is a run where each
// character is the previous one plus or minus one ("abcdef...", "98765...").
func sequential(s string) bool {
	rs := []rune(strings.Join(strings.Fields(s), ""))
	if len(rs) < 4 {
		return false
	}
	steps := 0
	for i := 1; i < len(rs); i++ {
		d := rs[i] - rs[i-1]
		if d == 1 || d == -1 || (rs[i-1] == '9' && rs[i] == '0') || (rs[i-1] == '0' && rs[i] == '9') {
			steps++
		}
	}
	return steps*10 >= (len(rs)-1)*8
}
