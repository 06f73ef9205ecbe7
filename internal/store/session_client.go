package store

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"

	"github.com/bulwarkhq/bulwark"
	"github.com/bulwarkhq/bulwark/internal/keys"
)

// The address and User-Agent a session was opened from are personal data
// (DATA-3): a session row keeps them sealed, as an audit entry does, under
// the tenant's data key and bound to the session's public id, in the
// client_ip column; user_agent stays empty. Rows written before they were
// sealed hold them in clear until they expire; migration 00019 (SQLite),
// 00012 (PostgreSQL) blanks those at upgrade.

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

// openSessionClients fills each session's address and User-Agent from
// its stored columns (clients[i] for out[i]), reading the tenant's keys
// once, and only if some pair is sealed. A pair that does not open (its
// key retired or destroyed, the row moved, the keys unavailable) is left
// out: the session is still listed.
func (t *tenantTx) openSessionClients(out []*bulwark.SessionInfo, clients [][2]string) {
	var k *keys.TenantKeys
	failed := false
	for i, s := range out {
		b64, sealed := strings.CutPrefix(clients[i][0], sessionClientPrefix)
		if !sealed {
			s.ClientIP, s.UserAgent = clients[i][0], clients[i][1] // written before sealing
			continue
		}
		if k == nil && !failed {
			var err error
			k, err = t.tenantKeys(lockNone)
			failed = err != nil
		}
		ct, err := base64.StdEncoding.DecodeString(b64)
		if failed || err != nil {
			continue
		}
		pt, err := k.Open(ct, secretBinding("user_secrets", "client", s.ID))
		if err != nil {
			continue
		}
		var p clientPair
		if json.Unmarshal(pt, &p) == nil {
			s.ClientIP, s.UserAgent = p.Client, p.UserAgent
		}
	}
}
