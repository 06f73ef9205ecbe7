package mail

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// smtpServer is a minimal SMTP server in process: EHLO, STARTTLS, AUTH
// PLAIN, MAIL, RCPT, DATA, QUIT. It records what it received.
type smtpServer struct {
	ln       net.Listener
	tls      *tls.Config
	msgs     chan received
	authUser string
	// rejectRcpt refuses every recipient, repeating the address.
	rejectRcpt bool
}

type received struct {
	from, to, data, user string
	tls                  bool
}

func newSMTPServer(t *testing.T, withTLS bool) *smtpServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{ln: ln, msgs: make(chan received, 10)}
	if withTLS {
		s.tls = selfSigned(t)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.serve(c)
		}
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	tp := textproto.NewConn(c)
	var r received
	tp.PrintfLine("220 test ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch cmd {
		case "EHLO", "HELO":
			if s.tls != nil && !r.tls {
				tp.PrintfLine("250-test\r\n250-STARTTLS\r\n250 AUTH PLAIN")
			} else {
				tp.PrintfLine("250-test\r\n250 AUTH PLAIN")
			}
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				return
			}
			c, r.tls = tc, true
			tp = textproto.NewConn(tc)
		case "AUTH":
			f := strings.Fields(line)
			b, _ := base64.StdEncoding.DecodeString(f[len(f)-1])
			parts := strings.Split(string(b), "\x00")
			r.user = parts[1]
			tp.PrintfLine("235 ok")
		case "MAIL":
			r.from = line
			tp.PrintfLine("250 ok")
		case "RCPT":
			r.to = line
			if s.rejectRcpt {
				addr := strings.TrimSpace(line[strings.IndexByte(line, ':')+1:])
				tp.PrintfLine("550 5.1.1 %s: Recipient address rejected: User unknown", addr)
				continue
			}
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go")
			b, err := tp.ReadDotBytes()
			if err != nil {
				return
			}
			r.data = string(b)
			tp.PrintfLine("250 queued")
			s.msgs <- r
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 no")
		}
	}
}

func selfSigned(t *testing.T) *tls.Config {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func wait(t *testing.T, s *smtpServer) received {
	select {
	case r := <-s.msgs:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no message reached the SMTP server")
	}
	return received{}
}

func TestSMTPStartTLS(t *testing.T) {
	srv := newSMTPServer(t, true)
	_, port, _ := net.SplitHostPort(srv.ln.Addr().String())
	m, err := Open("smtp://bulwark:s3cret@127.0.0.1:"+port, "noreply@bulwark.example")
	if err != nil {
		t.Fatal(err)
	}
	// Verification stays on: trust the test server's certificate only.
	pool := x509.NewCertPool()
	leaf, _ := x509.ParseCertificate(srv.tls.Certificates[0].Certificate[0])
	pool.AddCert(leaf)
	m.(*SMTP).TLSConfig = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	err = m.Send(context.Background(), Message{To: "ada@example.com", Subject: "Reset your password", Body: "Hello\n.leading dot\nbye"})
	if err != nil {
		t.Fatal(err)
	}
	r := wait(t, srv)
	if !r.tls || r.user != "bulwark" || !strings.Contains(r.to, "ada@example.com") {
		t.Fatalf("got %+v", r)
	}
	if !strings.Contains(r.data, "Subject: Reset your password") || !strings.Contains(r.data, "\n.leading dot") {
		t.Fatalf("data: %q", r.data)
	}
}

func TestSMTPRefusesClearText(t *testing.T) {
	srv := newSMTPServer(t, false) // offers no STARTTLS
	_, port, _ := net.SplitHostPort(srv.ln.Addr().String())
	m, err := Open("smtp://127.0.0.1:"+port, "noreply@bulwark.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), Message{To: "ada@example.com", Subject: "x", Body: "y"}); err == nil {
		t.Fatal("sent without STARTTLS")
	}
	// Explicit clear text is allowed on loopback only.
	m, err = Open("smtp://127.0.0.1:"+port+"?tls=none", "noreply@bulwark.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), Message{To: "ada@example.com", Subject: "x", Body: "y"}); err != nil {
		t.Fatal(err)
	}
	wait(t, srv)
	if _, err := Open("smtp://mail.example.com?tls=none", "noreply@bulwark.example"); err == nil {
		t.Fatal("tls=none accepted for a remote host")
	}
}

func TestHeaderInjection(t *testing.T) {
	o, err := NewOutbox(t.TempDir(), "noreply@bulwark.example")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []Message{
		{To: "ada@example.com\r\nBcc: eve@example.com", Subject: "x"},
		{To: "ada@example.com", Subject: "x\r\nBcc: eve@example.com"},
		{To: "Ada <ada@example.com>", Subject: "x"},
	} {
		if err := o.Send(context.Background(), m); err == nil {
			t.Errorf("sent %+v", m)
		}
	}
}

func TestOutbox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	m, err := Open("file://"+dir, "noreply@bulwark.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), Message{To: "ada@example.com", Subject: "Grüße", Body: "link"}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(dir)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("outbox dir: %v %v", st, err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	fi, _ := os.Stat(files[0])
	b, _ := os.ReadFile(files[0])
	if fi.Mode().Perm() != 0o600 || !strings.Contains(string(b), "To: ada@example.com\r\n") || !strings.Contains(string(b), "=?utf-8?q?") {
		t.Fatalf("mode %v, message %q", fi.Mode(), b)
	}
	if _, err := bufio.NewReader(strings.NewReader(string(b))).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
}

// A server refusing the recipient repeats the address in its reply, as
// Postfix does; the error (which the caller logs) keeps only the step and
// the status code.
func TestSMTPRefusalCarriesNoAddress(t *testing.T) {
	srv := newSMTPServer(t, false)
	srv.rejectRcpt = true
	_, port, _ := net.SplitHostPort(srv.ln.Addr().String())
	m, err := Open("smtp://127.0.0.1:"+port+"?tls=none", "noreply@bulwark.example")
	if err != nil {
		t.Fatal(err)
	}
	err = m.Send(context.Background(), Message{To: "ada@example.com", Subject: "x", Body: "y"})
	var se *Error
	if !errors.As(err, &se) || se.Step != "RCPT TO" || se.Code != 550 {
		t.Fatalf("got %v, want a 550 refusal of RCPT TO", err)
	}
	if strings.Contains(err.Error(), "ada@example.com") {
		t.Fatal("the error repeats the recipient's address")
	}
	// A malformed recipient is refused without repeating it either.
	o, err := NewOutbox(t.TempDir(), "noreply@bulwark.example")
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Send(context.Background(), Message{To: "Ada <ada@example.com>", Subject: "x"}); err == nil || strings.Contains(err.Error(), "ada@example.com") {
		t.Fatalf("got %v", err)
	}
}
