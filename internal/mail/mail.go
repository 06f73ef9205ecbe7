// Package mail sends Bulwark's email: password reset links and security
// notices (password changed, MFA changed, sign-in from a new device).
//
// A Mailer is picked by URL: smtp://user:pass@host:587 (STARTTLS),
// smtps://user:pass@host:465 (implicit TLS), or file:///dir, an outbox
// directory where each message is written as an .eml file. With no SMTP
// configured, Bulwark uses an outbox in its data directory, so a fresh
// install works and nothing is lost.
package mail

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Message is one plain-text email.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Mailer sends messages.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Open returns the Mailer for rawURL, sending as from.
//
//	smtp://[user:pass@]host[:port][?tls=starttls|none]  default port 587, STARTTLS required
//	smtps://[user:pass@]host[:port]                    default port 465, implicit TLS
//	file:///path/to/outbox                             one .eml file per message
//
// tls=none is refused unless the host is a loopback address: credentials
// and reset links never cross a network in clear.
func Open(rawURL, from string) (Mailer, error) {
	if _, err := mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("mail sender %q: %w", from, err)
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse mail URL: %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" {
			return nil, errors.New("file mail URL needs a directory: file:///var/lib/bulwark/outbox")
		}
		return NewOutbox(u.Path, from)
	case "smtp", "smtps":
		s := &SMTP{Host: u.Hostname(), From: from, Timeout: 30 * time.Second}
		port := u.Port()
		switch {
		case u.Scheme == "smtps":
			s.Mode = ImplicitTLS
			if port == "" {
				port = "465"
			}
		case u.Query().Get("tls") == "none":
			s.Mode = NoTLS
		default:
			s.Mode = StartTLS
		}
		if port == "" {
			port = "587"
		}
		s.Addr = net.JoinHostPort(s.Host, port)
		if s.Mode == NoTLS {
			ip := net.ParseIP(s.Host)
			if s.Host != "localhost" && (ip == nil || !ip.IsLoopback()) {
				return nil, errors.New("mail URL: tls=none is allowed only for a loopback host")
			}
		}
		if u.User != nil {
			pw, _ := u.User.Password()
			s.Username, s.Password = u.User.Username(), pw
		}
		return s, nil
	}
	return nil, fmt.Errorf("unsupported mail URL scheme %q: use smtp://, smtps:// or file://", u.Scheme)
}

// compose renders m as an RFC 5322 message. Header values are checked:
// no CR or LF may reach a header (no header injection).
func compose(from string, m Message, now time.Time) ([]byte, error) {
	to, err := mail.ParseAddress(m.To)
	if err != nil || to.Name != "" {
		// The address is personal data: the error, which may be logged,
		// does not repeat it.
		return nil, errors.New("mail recipient: not a plain address")
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, errors.New("mail subject holds a line break")
	}
	id := make([]byte, 12)
	rand.Read(id)
	domain := from[strings.LastIndexByte(from, '@')+1:]
	var b strings.Builder
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@%s>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n",
		from, to.Address, mime.QEncoding.Encode("utf-8", m.Subject), now.UTC().Format(time.RFC1123Z), hex.EncodeToString(id), domain)
	// SMTP dot-stuffing is done by net/smtp's DATA writer.
	for _, line := range strings.Split(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n") {
		b.WriteString(line + "\r\n")
	}
	return []byte(b.String()), nil
}

// Outbox writes each message to a file in a directory.
type Outbox struct {
	dir, from string
}

// NewOutbox returns an Outbox in dir (made with mode 0700: messages hold
// reset links).
func NewOutbox(dir, from string) (*Outbox, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create mail outbox: %w", err)
	}
	return &Outbox{dir: dir, from: from}, nil
}

// Dir is the outbox directory.
func (o *Outbox) Dir() string { return o.dir }

// Send implements Mailer.
func (o *Outbox) Send(ctx context.Context, m Message) error {
	now := time.Now()
	raw, err := compose(o.from, m, now)
	if err != nil {
		return err
	}
	id := make([]byte, 6)
	rand.Read(id)
	name := filepath.Join(o.dir, now.UTC().Format("20060102T150405.000000000Z")+"-"+hex.EncodeToString(id)+".eml")
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, raw, 0o600); err != nil {
		return fmt.Errorf("write mail to outbox: %w", err)
	}
	return os.Rename(tmp, name)
}

// TLS modes of an SMTP mailer.
const (
	StartTLS = iota
	ImplicitTLS
	NoTLS
)

// SMTP sends through an SMTP server.
type SMTP struct {
	Addr, Host         string
	Username, Password string
	From               string
	Mode               int
	Timeout            time.Duration
	// TLSConfig, when set, replaces the default (verify Host).
	TLSConfig *tls.Config
}

// Send implements Mailer.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	raw, err := compose(s.From, m, time.Now())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	tlsCfg := s.TLSConfig
	if tlsCfg == nil {
		tlsCfg = &tls.Config{ServerName: s.Host, MinVersion: tls.VersionTLS12}
	}
	var conn net.Conn
	d := &net.Dialer{}
	if s.Mode == ImplicitTLS {
		conn, err = (&tls.Dialer{NetDialer: d, Config: tlsCfg}).DialContext(ctx, "tcp", s.Addr)
	} else {
		conn, err = d.DialContext(ctx, "tcp", s.Addr)
	}
	if err != nil {
		return fmt.Errorf("connect to mail server: %w", err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	c, err := smtp.NewClient(conn, s.Host)
	if err != nil {
		return smtpError("greeting", err)
	}
	defer c.Close()
	if s.Mode == StartTLS {
		if ok, _ := c.Extension("STARTTLS"); !ok {
			return errors.New("mail server does not offer STARTTLS; refusing to send in clear")
		}
		if err := c.StartTLS(tlsCfg); err != nil {
			return smtpError("STARTTLS", err)
		}
	}
	if s.Username != "" {
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, s.Host)); err != nil {
			return smtpError("AUTH", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return smtpError("MAIL FROM", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return smtpError("RCPT TO", err)
	}
	w, err := c.Data()
	if err != nil {
		return smtpError("DATA", err)
	}
	if _, err := w.Write(raw); err != nil {
		return smtpError("DATA", err)
	}
	if err := w.Close(); err != nil {
		return smtpError("DATA", err)
	}
	if err := c.Quit(); err != nil {
		return smtpError("QUIT", err)
	}
	return nil
}

// Error is an SMTP server's refusal: the step it refused and its status
// code. The server's text is dropped: it often repeats the recipient's
// address ("550 5.1.1 <ada@example.com>: Recipient address rejected"),
// personal data that must not reach the application log.
type Error struct {
	Step string // "RCPT TO", "DATA", ...
	Code int    // the SMTP reply code, e.g. 550
}

func (e *Error) Error() string { return fmt.Sprintf("mail %s: server replied %d", e.Step, e.Code) }

// smtpError describes err, from step of an SMTP session, without the
// server's text: a reply becomes its status code (Error). A network or TLS
// error, which names no recipient, is kept; anything else keeps only the
// step.
func smtpError(step string, err error) error {
	var te *textproto.Error
	if errors.As(err, &te) {
		return &Error{Step: step, Code: te.Code}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return fmt.Errorf("mail %s: %w", step, err)
	}
	var tlsErr tls.AlertError
	if errors.As(err, &tlsErr) {
		return fmt.Errorf("mail %s: %w", step, err)
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return fmt.Errorf("mail %s: %w", step, err)
	}
	return fmt.Errorf("mail %s failed", step)
}
