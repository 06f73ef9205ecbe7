package sso

import "github.com/bulwarkhq/bulwark"

// The public SSO endpoints are bounded per client address, in process
// (internal/addrlimit): each begun login stores a row and each answer
// costs a signature check, so one address cannot make either unbounded.
// Per address: a burst of 60, then one a second.
const (
	addrBurst = 60
	addrRate  = 1
)

var errAddrLimited = bulwark.Errorf(bulwark.ERateLimited, "too many sign-in attempts from your network address; wait a minute and retry")
