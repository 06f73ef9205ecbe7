package auth

import "github.com/bulwarkhq/bulwark"

// errAddrLimited refuses an address's credential attempts past
// Options.AddrRate and AddrBurst (internal/addrlimit): password spraying
// from one address. Per-account limits, which must hold across nodes, are
// in the store.
var errAddrLimited = bulwark.Errorf(bulwark.ERateLimited, "too many attempts from your network address; wait a minute and retry")
