package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/certfile"
	"github.com/bulwarkhq/bulwark/internal/devcert"
)

// certSource is where the HTTPS listeners' certificate comes from: files
// given with --tls-cert and --tls-key, or the development certificate.
// Either is read at each handshake, so a renewed certificate is served
// without a restart (DATA-2).
type certSource struct {
	get func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// banner is printed at start: what to trust and how to check it.
	banner func(base string) string
	attrs  []any // for the "serving" log line
}

func newCertSource(cfg *Config, log *slog.Logger) (*certSource, error) {
	if cfg.TLSCert != "" {
		p, err := certfile.Load(cfg.TLSCert, cfg.TLSKey, time.Now)
		if err != nil {
			return nil, err
		}
		p.OnReload = func(leaf *x509.Certificate) {
			log.Info("TLS certificate reloaded", "sha256", certfile.Fingerprint(leaf), "expires", leaf.NotAfter)
		}
		p.OnError = func(err error) { log.Error("TLS certificate files not adopted", "err", err) }
		leaf := p.Leaf()
		fp := certfile.Fingerprint(leaf)
		return &certSource{
			get: p.GetCertificate,
			banner: func(base string) string {
				return fmt.Sprintf("TLS certificate:        %s (expires %s)\nSHA-256 fingerprint:    %s\n", cfg.TLSCert, leaf.NotAfter.Format(time.DateOnly), fp)
			},
			attrs: []any{"cert_sha256", fp},
		}, nil
	}
	certs, err := devcert.NewSource(cfg.DataDir, time.Now)
	if err != nil {
		return nil, err
	}
	certs.OnRenew = func(c *devcert.Cert) {
		log.Info("development certificate renewed", "expires", c.TLS.Leaf.NotAfter)
	}
	certs.OnError = func(err error) {
		log.Error("development certificate renewal failed; serving the current one", "err", err)
	}
	cert := certs.Current()
	if len(cert.Created) > 0 {
		log.Info("development certificate created", "made", cert.Created, "ca", cert.CAPath, "ca_sha256", cert.CAFingerprint)
	}
	return &certSource{
		get: certs.GetCertificate,
		banner: func(base string) string {
			return fmt.Sprintf("CA certificate:         %s\nCA SHA-256 fingerprint: %s\nCheck it:               curl --cacert %s %s/healthz\n",
				cert.CAPath, cert.CAFingerprint, shellQuote(cert.CAPath), base)
		},
		attrs: []any{"ca_sha256", cert.CAFingerprint},
	}, nil
}

// redirectToHTTPS is the optional plain-HTTP listener. It sends a browser
// asking for a page (GET or HEAD, outside /api/) to the same path over
// HTTPS, and answers everything else with an error: an API client that
// spoke plain HTTP has already sent its credentials in clear, and a
// redirect would hide that mistake instead of breaking it loudly.
func redirectToHTTPS(httpsPort string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		browser := (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/api/")
		if !browser || !validHost(host) {
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusBadRequest)
			json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{
				"code":    "invalid",
				"message": "Bulwark answers over HTTPS only: send this request to https:// (and treat any credential sent here as exposed)",
			}})
			return
		}
		target := "https://" + net.JoinHostPort(host, httpsPort) + r.URL.EscapedPath()
		if r.URL.RawQuery != "" {
			target += "?" + r.URL.RawQuery
		}
		http.Redirect(w, r, target, http.StatusPermanentRedirect)
	})
}

// validHost accepts a DNS name or an IP literal, nothing that could turn
// the redirect into one to another scheme or path.
func validHost(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	if net.ParseIP(strings.Trim(h, "[]")) != nil {
		return true
	}
	for _, c := range h {
		if !(c == '.' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
