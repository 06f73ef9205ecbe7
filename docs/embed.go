// Package docs carries documents the server serves itself.
package docs

import _ "embed"

// OpenAPI is the OpenAPI 3.1 description of the REST API, served at
// /api/v1/openapi.yaml. internal/web tests keep it in step with the routes.
//
//go:embed openapi.yaml
var OpenAPI []byte
