package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// server is a `bulwark serve` run in this process.
type server struct {
	url, metricsURL string
	client          *http.Client
	cancel          context.CancelFunc
	done            chan int // the exit code
	stderr          *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startServe runs `bulwark serve` on free ports and returns once it has
// printed its addresses and /healthz answers over HTTPS, trusting only the
// generated CA.
func startServe(t *testing.T, data string, extra ...string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &server{cancel: cancel, done: make(chan int, 1), stderr: &lockedBuffer{}}
	args := append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}, extra...)
	go func() {
		code := run(ctx, args, func(string) string { return "" }, strings.NewReader(""), pw, s.stderr)
		pw.Close()
		s.done <- code
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.done:
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})

	// Read what serve prints; keep draining so it never blocks on stdout.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	deadline := time.After(30 * time.Second)
	var caPath string
	for s.url == "" || s.metricsURL == "" || caPath == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("serve exited before it was ready; stderr:\n%s", s.stderr)
			}
			switch {
			case strings.HasPrefix(l, "Bulwark is serving "):
				s.url = strings.TrimPrefix(l, "Bulwark is serving ")
			case strings.HasPrefix(l, "Metrics (not public):"):
				s.metricsURL = strings.TrimSpace(strings.TrimPrefix(l, "Metrics (not public):"))
			case strings.HasPrefix(l, "CA certificate:"):
				caPath = strings.TrimSpace(strings.TrimPrefix(l, "CA certificate:"))
			}
		case <-deadline:
			t.Fatalf("serve printed no address; stderr:\n%s", s.stderr)
		}
	}
	go func() {
		for range lines {
		}
	}()

	if caPath != filepath.Join(data, "ca.pem") {
		t.Errorf("CA path %q, want %q", caPath, filepath.Join(data, "ca.pem"))
	}
	caPEM, err := os.ReadFile(caPath)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.pem holds no certificate")
	}
	s.client = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	// The listener is open before the address is printed, so the first
	// request must succeed.
	resp := s.do(t, "GET", "/healthz", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz: %d", resp.StatusCode)
	}
	return s
}

func (s *server) do(t *testing.T, method, path, bearer string, body any) *http.Response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// stop cancels serve's context, as SIGINT does, and returns its exit code.
func (s *server) stop(t *testing.T) int {
	t.Helper()
	s.cancel()
	select {
	case code := <-s.done:
		s.done <- code // for the cleanup
		return code
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of its context ending")
		return -1
	}
}

func TestServeEndToEnd(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := startServe(t, data)

	if fi, err := os.Stat(data); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("data dir: %v, mode %v", err, fi.Mode().Perm())
	}
	if r := s.do(t, "GET", "/readyz", "", nil); r.StatusCode != http.StatusOK {
		t.Errorf("/readyz: %d", r.StatusCode)
	}

	// HTTPS only: a plain-HTTP request to the port is not served.
	plain := &http.Client{Timeout: 5 * time.Second}
	if resp, err := plain.Get("http://" + strings.TrimPrefix(s.url, "https://") + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP got 200")
		}
	}
	// TLS 1.1 is refused.
	host := strings.TrimPrefix(s.url, "https://")
	if c, err := tls.Dial("tcp", host, &tls.Config{MaxVersion: tls.VersionTLS11, InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Error("TLS 1.1 handshake succeeded")
	}

	// Metrics: on their own listener, never on the public one.
	if r := s.do(t, "GET", "/metrics", "", nil); r.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics on the public listener: %d, want 404", r.StatusCode)
	}
	resp, err := s.client.Get(s.metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	mb, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(mb, []byte("bulwark_http_requests_total")) || !bytes.Contains(mb, []byte("go_goroutines")) {
		t.Errorf("metrics: %d\n%.300s", resp.StatusCode, mb)
	}

	// The CLI works on the database while the server runs, and the server
	// accepts what it made: activate, log in, ask who we are.
	r := runCmd(t, map[string]string{"BULWARK_LOG_LEVEL": "error"},
		"tenant", "create", "acme", "--data", data, "--name", "Acme", "--admin-email", "ada@acme.example", "--json")
	if r.code != exitOK {
		t.Fatalf("tenant create: %s", r.stderr)
	}
	var created createdJSON
	if err := json.Unmarshal([]byte(r.stdout), &created); err != nil {
		t.Fatal(err)
	}
	const pw = "correct horse battery staple"
	if r := s.do(t, "POST", "/api/v1/auth/activate", "", map[string]string{"token": created.Token, "password": pw}); r.StatusCode != http.StatusNoContent {
		t.Fatalf("activate: %d", r.StatusCode)
	}
	if r := s.do(t, "POST", "/api/v1/auth/activate", "", map[string]string{"token": created.Token, "password": pw}); r.StatusCode != http.StatusGone {
		t.Errorf("second activation: %d, want 410", r.StatusCode)
	}
	lr := s.do(t, "POST", "/api/v1/auth/login", "", map[string]string{"tenant": "acme", "email": "ada@acme.example", "password": pw})
	if lr.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", lr.StatusCode)
	}
	var sess struct{ Token string }
	json.NewDecoder(lr.Body).Decode(&sess)
	if r := s.do(t, "GET", "/api/v1/auth/me", sess.Token, nil); r.StatusCode != http.StatusOK {
		t.Errorf("me: %d", r.StatusCode)
	}

	if code := s.stop(t); code != exitOK {
		t.Fatalf("serve exited %d after its context ended, want 0; stderr:\n%s", code, s.stderr)
	}
	logs := s.stderr.String()
	for _, want := range []string{`"msg":"serving"`, `"msg":"shutting down"`, `"msg":"stopped"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s", want)
		}
	}
	// Logs are JSON lines, every one of them.
	for _, l := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(l)) {
			t.Errorf("log line is not JSON: %s", l)
		}
	}
	// The listener is closed.
	if c, err := net.DialTimeout("tcp", host, time.Second); err == nil {
		c.Close()
		t.Error("port still open after shutdown")
	}
}

// A second start reuses the CA (clients keep trusting it) and the data.
func TestServeRestartKeepsCAAndData(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	s := startServe(t, data)
	first, _ := os.ReadFile(filepath.Join(data, "ca.pem"))
	if code := s.stop(t); code != exitOK {
		t.Fatalf("first run exited %d", code)
	}
	r := runCmd(t, map[string]string{"BULWARK_LOG_LEVEL": "error"}, "tenant", "create", "acme", "--data", data, "--name", "Acme", "--admin-email", "ada@acme.example")
	if r.code != exitOK {
		t.Fatalf("tenant create: %s", r.stderr)
	}
	s = startServe(t, data)
	second, _ := os.ReadFile(filepath.Join(data, "ca.pem"))
	if !bytes.Equal(first, second) {
		t.Error("the CA changed between starts")
	}
	if code := s.stop(t); code != exitOK {
		t.Fatalf("second run exited %d", code)
	}
	if r := runCmd(t, nil, "tenant", "list", "--data", data); !strings.Contains(r.stdout, "acme") {
		t.Errorf("tenant lost across restarts: %s", r.stdout)
	}
}

func TestServeWithoutMetrics(t *testing.T) {
	data := filepath.Join(t.TempDir(), "data")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--metrics-addr", ""},
			func(string) string { return "" }, strings.NewReader(""), &out, io.Discard)
	}()
	for !strings.Contains(out.String(), "Stop with Ctrl-C") {
		select {
		case code := <-done:
			t.Fatalf("serve exited %d", code)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if strings.Contains(out.String(), "Metrics (not public)") {
		t.Errorf("metrics announced although disabled:\n%s", out.String())
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Errorf("exit %d", code)
	}
}

// A port already in use is a clear error, exit 1, not a hang.
func TestServePortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	data := filepath.Join(t.TempDir(), "data")
	r := runCmd(t, nil, "serve", "--data", data, "--addr", ln.Addr().String(), "--metrics-addr", "")
	if r.code != exitError || !strings.Contains(r.stderr, "listen on") {
		t.Errorf("exit %d, stderr %s", r.code, r.stderr)
	}
}
