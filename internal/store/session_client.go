package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/bulwarkhq/bulwark"
)

// The address and User-Agent a session was opened from are personal data
// (DATA-3): a session row keeps them sealed, as an audit entry does, under
// the tenant's data key and bound to the session's public id, in the
// client_ip column; user_agent stays empty. Rows written before they were
// sealed hold them in clear until they expire; migration 00018 (SQLite),
// 00011 (PostgreSQL) blanks those at upgrade.

// sessionClientPrefix marks a sealed pair in user_secrets.client_ip.
const sessionClientPrefix = "aead:"

// sealSessionClient returns what client_ip keeps for a session opened by
// ri. With the tenant's keys unavailable (the KMS is down and they are not
// cached) it keeps nothing rather than the plaintext: the login goes on,
// its session is listed without them.
func (t *tenantTx) sealSessionClient(publicID string, ri bulwark.RequestInfo) (string, error) {
	if ri.ClientIP == "" && ri.UserAgent == "" {
		return "", nil
	}
	pair := clientPair{Client: ri.ClientIP, UserAgent: clipUserAgent(ri.UserAgent)}
	ct, err := t.sealSecret("user_secrets", "client", publicID, pair.marshal())
	if err != nil {
		var be *bulwark.Error
		if errors.As(err, &be) && be.Code == bulwark.EUnavailable {
			return "", nil
		}
		return "", err
	}
	return sessionClientPrefix + base64.StdEncoding.EncodeToString(ct), nil
}

// openSessionClient fills s's address and User-Agent from the stored
// columns. A pair that does not open (its key retired or destroyed, the
// row moved) is left out: the session is still listed.
func (t *tenantTx) openSessionClient(s *bulwark.SessionInfo, clientIP, userAgent string) {
	b64, sealed := strings.CutPrefix(clientIP, sessionClientPrefix)
	if !sealed {
		s.ClientIP, s.UserAgent = clientIP, userAgent // written before sealing
		return
	}
	ct, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return
	}
	pt, err := t.openSecret("user_secrets", "client", s.ID, ct)
	if err != nil {
		return
	}
	var p clientPair
	if json.Unmarshal(pt, &p) == nil {
		s.ClientIP, s.UserAgent = p.Client, p.UserAgent
	}
}
