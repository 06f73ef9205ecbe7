package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/devcert"
)

// TestTLSScan runs an independent scanner, Debian's sslscan, against the
// running server (DATA-2): only TLS 1.2 and 1.3, and only forward-secret
// AEAD suites.
func TestTLSScan(t *testing.T) {
	if _, err := exec.LookPath("sslscan"); err != nil {
		if os.Getenv("BULWARK_REQUIRE_SSLSCAN") == "1" {
			t.Fatal("sslscan is required (BULWARK_REQUIRE_SSLSCAN=1) but not installed: apt-get install sslscan")
		}
		t.Skip("sslscan is not installed (apt-get install sslscan); .ci/run installs it")
	}
	s := startServe(t, filepath.Join(t.TempDir(), "data"))
	u, _ := url.Parse(s.url)
	out, err := exec.Command("sslscan", "--no-colour", "--xml=-", u.Host).Output()
	if err != nil {
		t.Fatalf("sslscan: %v", err)
	}
	var doc struct {
		Protocols []struct {
			Type    string `xml:"type,attr"`
			Version string `xml:"version,attr"`
			Enabled string `xml:"enabled,attr"`
		} `xml:"ssltest>protocol"`
		Ciphers []struct {
			Version string `xml:"sslversion,attr"`
			Name    string `xml:"cipher,attr"`
		} `xml:"ssltest>cipher"`
	}
	if err := xml.Unmarshal(out, &doc); err != nil {
		t.Fatalf("sslscan XML: %v", err)
	}
	enabled := map[string]bool{}
	for _, p := range doc.Protocols {
		if p.Enabled == "1" {
			enabled[p.Type+p.Version] = true
		}
	}
	if len(doc.Protocols) == 0 || len(doc.Ciphers) == 0 {
		t.Fatalf("sslscan saw no protocols or suites:\n%s", out)
	}
	for p := range enabled {
		if p != "tls1.2" && p != "tls1.3" {
			t.Errorf("protocol %s is enabled", p)
		}
	}
	if !enabled["tls1.2"] || !enabled["tls1.3"] {
		t.Errorf("TLS 1.2 and 1.3 should both be on: %v", enabled)
	}
	for _, c := range doc.Ciphers {
		aead := strings.Contains(c.Name, "GCM") || strings.Contains(c.Name, "CHACHA20")
		fs := c.Version == "TLSv1.3" || strings.HasPrefix(c.Name, "ECDHE-")
		if !aead || !fs {
			t.Errorf("%s suite %s is not a forward-secret AEAD suite", c.Version, c.Name)
		}
	}
}

// startPlain runs serve with extra flags and returns what it printed
// after "Bulwark is serving" and "HTTP redirect only:".
func startPlain(t *testing.T, args ...string) (httpsURL, redirectURL string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	stderr := &lockedBuffer{}
	go func() {
		done <- run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0", "--metrics-addr", "off"}, args...), func(string) string { return "" }, strings.NewReader(""), pw, stderr)
		pw.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		l := sc.Text()
		if v, ok := strings.CutPrefix(l, "Bulwark is serving "); ok {
			httpsURL = v
		}
		if v, ok := strings.CutPrefix(l, "HTTP redirect only:"); ok {
			redirectURL = strings.TrimSpace(v)
		}
		if strings.HasPrefix(l, "Stop with") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if httpsURL == "" {
		t.Fatalf("serve did not start; stderr:\n%s", stderr)
	}
	return httpsURL, redirectURL
}

// TestServeWithCertFiles: --tls-cert/--tls-key serve the given pair, and a
// renewed pair is served without a restart.
func TestServeWithCertFiles(t *testing.T) {
	// A CA and a leaf to serve, made with the development CA code in
	// another directory; the server gets only the leaf's files.
	certDir := t.TempDir()
	c, err := devcert.Ensure(certDir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	certPath, keyPath := filepath.Join(certDir, "tls.crt"), filepath.Join(certDir, "tls.key")
	pool := x509.NewCertPool()
	caPEM, _ := os.ReadFile(c.CAPath)
	pool.AppendCertsFromPEM(caPEM)
	base, _ := startPlain(t, "--data", filepath.Join(t.TempDir(), "data"), "--tls-cert", certPath, "--tls-key", keyPath)
	served := func() []byte {
		t.Helper()
		u, _ := url.Parse(base)
		conn, err := tls.Dial("tcp", u.Host, &tls.Config{RootCAs: pool})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].Raw
	}
	first := served()
	// Renew: remove the leaf so Ensure makes a new one from the same CA.
	os.Remove(certPath)
	os.Remove(keyPath)
	if _, err := devcert.Ensure(certDir, time.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for string(served()) == string(first) {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served without a restart")
		}
		time.Sleep(300 * time.Millisecond)
	}
	// Only one of the pair is refused at start.
	if code := run(context.Background(), []string{"serve", "--data", t.TempDir(), "--tls-cert", certPath}, func(string) string { return "" }, strings.NewReader(""), io.Discard, io.Discard); code != exitUsage {
		t.Errorf("--tls-cert without --tls-key: exit %d, want %d", code, exitUsage)
	}
}

// TestHTTPRedirect: the plain-HTTP listener sends browsers to HTTPS and
// answers API calls with an error, never a redirect.
func TestHTTPRedirect(t *testing.T) {
	base, plain := startPlain(t, "--data", filepath.Join(t.TempDir(), "data"), "--http-redirect-addr", "127.0.0.1:0")
	if plain == "" {
		t.Fatal("no redirect listener printed")
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	u, _ := url.Parse(base)
	res, err := client.Get(plain + "/console/login?x=1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loc := res.Header.Get("Location")
	if res.StatusCode != http.StatusPermanentRedirect || loc != "https://127.0.0.1:"+u.Port()+"/console/login?x=1" {
		t.Errorf("browser GET: %d Location %q", res.StatusCode, loc)
	}
	for _, c := range []struct{ method, path string }{{"GET", "/api/v1/auth/me"}, {"POST", "/api/v1/auth/login"}, {"POST", "/console/login"}} {
		req, _ := http.NewRequest(c.method, plain+c.path, strings.NewReader("{}"))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusBadRequest || res.Header.Get("Location") != "" {
			t.Errorf("%s %s over HTTP: %d Location %q, want 400 and no redirect", c.method, c.path, res.StatusCode, res.Header.Get("Location"))
		}
	}
	req, _ := http.NewRequest("GET", plain+"/", nil)
	req.Host = "evil.example/@x"
	res, err = client.Do(req)
	if err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusPermanentRedirect {
			t.Errorf("a bad Host was redirected to %q", res.Header.Get("Location"))
		}
	}
}
