package main

import (
	"io"
	"log"
	"log/slog"
	"regexp"
)

// serverErrorLog is the http.Server ErrorLog: net/http's own messages
// (failed TLS handshakes, panics, HTTP/2 errors) go to the application
// log at warning level, without the addresses they name. Those are
// mostly the client's ("http: TLS handshake error from 203.0.113.9:42570:
// EOF"), personal data that Bulwark keeps only sealed (the audit log), and
// the rest of the message is what an operator needs.
func serverErrorLog(h slog.Handler) *log.Logger {
	return log.New(addrScrubber{slog.NewLogLogger(h, slog.LevelWarn).Writer()}, "", 0)
}

// ipAddr matches an IPv6 address in brackets or an IPv4 address, each
// with an optional port: the forms net.Conn.RemoteAddr takes.
var ipAddr = regexp.MustCompile(`\[[0-9A-Fa-f:.]+(%[^\]]*)?\](:[0-9]+)?|\b([0-9]{1,3}\.){3}[0-9]{1,3}(:[0-9]+)?\b`)

// addrScrubber writes each message to w with its IP addresses withheld.
type addrScrubber struct{ w io.Writer }

func (s addrScrubber) Write(p []byte) (int, error) {
	if _, err := s.w.Write(ipAddr.ReplaceAll(p, []byte("(address withheld)"))); err != nil {
		return 0, err
	}
	return len(p), nil
}
