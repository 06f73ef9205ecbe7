package web

import (
	"crypto/tls"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestNewServer(t *testing.T) {
	cfg := TLSConfig()
	s := NewServer(":8443", http.NotFoundHandler(), cfg)
	if s.ReadHeaderTimeout != 5*time.Second || s.ReadTimeout != 30*time.Second ||
		s.WriteTimeout != 60*time.Second || s.IdleTimeout != 120*time.Second ||
		s.MaxHeaderBytes != 64<<10 || s.TLSConfig != cfg || s.Addr != ":8443" {
		t.Errorf("server = %+v", s)
	}
}

// TestTLSPolicy is DATA-2 at the handshake: TLS 1.0/1.1 and non-AEAD or
// non-ECDHE TLS 1.2 suites are refused; TLS 1.3 and ECDHE-AEAD work.
func TestTLSPolicy(t *testing.T) {
	srv := httptest.NewUnstartedServer(New(Deps{}).Handler())
	srv.TLS = TLSConfig()
	// The refused handshakes below are expected; keep them out of the output.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	tests := []struct {
		name   string
		min    uint16
		max    uint16
		suites []uint16
		ok     bool
	}{
		{"tls1.3", tls.VersionTLS13, tls.VersionTLS13, nil, true},
		{"tls1.2 ecdhe gcm", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, true},
		{"tls1.2 ecdhe chacha", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256}, true},
		{"tls1.2 ecdhe cbc", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA}, false},
		{"tls1.2 rsa kex gcm", tls.VersionTLS12, tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, false},
		{"tls1.1", tls.VersionTLS11, tls.VersionTLS11, nil, false},
		{"tls1.0", tls.VersionTLS10, tls.VersionTLS10, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{
				InsecureSkipVerify: true, // the test server's certificate is not the point here
				MinVersion:         tt.min,
				MaxVersion:         tt.max,
				CipherSuites:       tt.suites,
			})
			if err == nil {
				conn.Close()
			}
			if (err == nil) != tt.ok {
				t.Errorf("handshake err = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestHTTPSRoundTrip(t *testing.T) {
	srv := httptest.NewUnstartedServer(New(Deps{}).Handler())
	srv.TLS = TLSConfig()
	srv.StartTLS()
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || res.Header.Get("Strict-Transport-Security") == "" || res.Header.Get("Server") != "" {
		t.Errorf("status %d headers %v", res.StatusCode, res.Header)
	}
}
