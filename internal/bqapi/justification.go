package bqapi

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/querygate/querygate/internal/intake"
)

// justificationOf reads JustificationHeader and BreakGlassHeader into req.
// Each may be sent once; the justification is percent-decoded (intake
// cleans and bounds it), and break-glass is "true" or "false".
func justificationOf(r *http.Request, req *intake.QueryRequest) *apiError {
	if vs, ok := r.Header[http.CanonicalHeaderKey(JustificationHeader)]; ok {
		if len(vs) != 1 {
			return badRequest("send " + JustificationHeader + " once")
		}
		j, err := url.PathUnescape(vs[0])
		if err != nil {
			return badRequest(JustificationHeader + " must be percent-encoded (RFC 3986)")
		}
		req.Justification = j
	}
	if vs, ok := r.Header[http.CanonicalHeaderKey(BreakGlassHeader)]; ok {
		if len(vs) != 1 {
			return badRequest("send " + BreakGlassHeader + " once")
		}
		switch strings.ToLower(strings.TrimSpace(vs[0])) {
		case "true":
			req.BreakGlass = true
		case "false":
		default:
			return badRequest(BreakGlassHeader + " must be true or false")
		}
	}
	return nil
}
