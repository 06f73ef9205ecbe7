// Package bulwark is the vocabulary of Bulwark, a multi-tenant SaaS backend
// whose security measures are running, tested features: domain types, the
// Principal and its permissions, the service interfaces, and the one error
// type. It imports only the standard library; every other package points at
// it, never the other way (see ../shared/STYLE.md).
package bulwark
