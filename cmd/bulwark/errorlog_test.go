package main

import (
	"bytes"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestServerErrorLogWithholdsAddresses: net/http's own error log names the
// client's address ("http: TLS handshake error from 127.0.0.1:42570: EOF");
// client addresses are personal data, so the application log gets the
// message without them.
func TestServerErrorLogWithholdsAddresses(t *testing.T) {
	var buf bytes.Buffer
	l := serverErrorLog(slog.NewJSONHandler(&buf, nil))
	for _, c := range []struct{ line, addr, keep string }{
		{"http: TLS handshake error from 127.0.0.1:42570: EOF\n", "127.0.0.1", "http: TLS handshake error from"},
		{"http: TLS handshake error from [2001:db8::17]:443: remote error: tls: bad certificate\n", "2001:db8::17", "remote error: tls: bad certificate"},
		{"http2: server: error reading preface from client [::ffff:192.0.2.7]:5555: bogus greeting\n", "192.0.2.7", "bogus greeting"},
		{"http: panic serving 198.51.100.4:1234: boom\n", "198.51.100.4", "boom"},
	} {
		buf.Reset()
		l.Print(c.line)
		got := buf.String()
		if strings.Contains(got, c.addr) || !strings.Contains(got, c.keep) || !strings.Contains(got, `"level":"WARN"`) {
			t.Errorf("%q logged as %s", c.line, got)
		}
	}
}

// TestServeHandshakeErrorWithholdsClientAddress: the same through the real
// server: a plain-text request to the TLS port is logged without the
// client's address.
func TestServeHandshakeErrorWithholdsClientAddress(t *testing.T) {
	s := startServe(t, filepath.Join(t.TempDir(), "data"))
	c, err := net.Dial("tcp", strings.TrimPrefix(s.url, "https://"))
	if err != nil {
		t.Fatal(err)
	}
	local := c.LocalAddr().String()
	c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	c.Read(make([]byte, 512))
	c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(s.stderr.String(), "handshake") {
		if time.Now().After(deadline) {
			t.Fatalf("no handshake error logged:\n%s", s.stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if log := s.stderr.String(); strings.Contains(log, local) {
		t.Errorf("the application log holds the client address %s:\n%s", local, log)
	}
}
