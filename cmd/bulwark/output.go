package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark"
)

// fail prints err for a person at the terminal and returns exit code 1.
// The command line is run by whoever holds the database, so the cause is
// shown too, not only the user-safe message.
func fail(e *env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "bulwark %s: %s\n", cmd, describe(err))
	return exitError
}

func describe(err error) string {
	var be *bulwark.Error
	if !errors.As(err, &be) {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(be.Message)
	keys := make([]string, 0, len(be.Fields))
	for k := range be.Fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.Contains(be.Message, be.Fields[k]) {
			fmt.Fprintf(&b, "\n  %s: %s", k, be.Fields[k])
		}
	}
	if be.Err != nil {
		fmt.Fprintf(&b, " (%v)", be.Err)
	}
	return b.String()
}

// writeJSON prints v as indented JSON, for scripts (--json).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// publicURL is the https:// base URL a client uses for a listener at addr.
// The development certificate names only loopback addresses, so an
// unspecified host ("0.0.0.0", "::", "") becomes localhost.
func publicURL(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "https://" + addr
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "https://" + net.JoinHostPort(host, port)
}

// printActivation tells how to use a new activation token. The secret is
// printed once, here; it is stored only as a hash.
func printActivation(w io.Writer, cfg *Config, who string, inv *bulwark.Invitation) {
	ca := filepath.Join(cfg.DataDir, "ca.pem")
	fmt.Fprintf(w, `Activation token for %s (shown once; valid until %s):

    %s

Hand it to them over a channel you trust. They choose their own password by
sending the token and the password to POST /api/v1/auth/activate as JSON
{"token": "...", "password": "..."}, for example:

    curl --cacert %s -X POST %s/api/v1/auth/activate \
      -H 'Content-Type: application/json' \
      -d '{"token":"%s","password":"<their new password>"}'

`, who, inv.ExpiresAt.UTC().Format(time.RFC3339), inv.Token, shellQuote(ca), publicURL(cfg.Addr), inv.Token)
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
