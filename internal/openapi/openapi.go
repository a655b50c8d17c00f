// Package openapi serves the OpenAPI 3.1 description of querygate's HTTP
// API (/v1, the approval decision pages and the OAuth resource metadata)
// at GET /openapi.json, and checks responses against it, so that tests
// can prove the document says what the handlers do.
package openapi

import (
	_ "embed"
	"encoding/json"
	"net/http"
)

// Path is where the document is served.
const Path = "/openapi.json"

//go:embed openapi.json
var document []byte

// JSON returns a copy of the document.
func JSON() []byte { return append([]byte(nil), document...) }

// Handler serves the document.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "public, max-age=300")
		w.Header().Set("Access-Control-Allow-Origin", "*")
		w.Write(document)
	})
}

// parsed is the document decoded once; the embedded bytes are checked by
// the package's tests, so a decoding failure here is a build defect.
var parsed = func() map[string]any {
	var m map[string]any
	if err := json.Unmarshal(document, &m); err != nil {
		panic("openapi: embedded document is not JSON: " + err.Error())
	}
	return m
}()
