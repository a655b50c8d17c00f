package functions

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// Endpoints point the Google clients at emulators and in-process fakes:
// the cloud-in-a-box test (testing/cloudbox) runs this binary against them.
// They are for emulators and tests only. Terraform sets none of them, and
// Validate refuses any endpoint that is not a loopback address, because a
// client whose endpoint is set connects without TLS and without
// credentials, which only a peer on the same machine justifies. Each one,
// when set, is honoured by every client of its kind in every function.
//
// The Firestore clients (sessions, approval state) need no setting here:
// the Firestore library itself honours FIRESTORE_EMULATOR_HOST.
type Endpoints struct {
	// BigQuery is the REST base URL of a BigQuery emulator,
	// http://127.0.0.1:PORT (internal/bqlocal).
	BigQuery string `env:"QUERYGATE_BIGQUERY_ENDPOINT"`
	// DLP, Workflows and SecretManager are the host:port of gRPC fakes of
	// Cloud DLP, the Workflows Executions API and Secret Manager.
	DLP           string `env:"QUERYGATE_DLP_ENDPOINT"`
	Workflows     string `env:"QUERYGATE_WORKFLOWS_ENDPOINT"`
	SecretManager string `env:"QUERYGATE_SECRETMANAGER_ENDPOINT"`
	// CloudIdentity is the REST base URL of a Cloud Identity fake.
	CloudIdentity string `env:"QUERYGATE_CLOUDIDENTITY_ENDPOINT"`
	// GoogleCerts is a URL serving the JWKS that stands in for Google's
	// OAuth 2.0 certificates (googleCertsURL), against which the
	// functions verify Google-issued ID tokens: the workflow's, the
	// approval function's and agents' Google tokens. Everything else
	// idtoken checks (signature, expiry, audience, then issuer and email
	// in internal/auth) is unchanged.
	GoogleCerts string `env:"QUERYGATE_GOOGLE_CERTS_URL"`
}

// googleCertsURL is where google.golang.org/api/idtoken fetches the keys
// of Google-signed RS256 ID tokens.
const googleCertsURL = "https://www.googleapis.com/oauth2/v3/certs"

func (e Endpoints) validate() []error {
	var errs []error
	for _, f := range []struct{ name, value string }{{"QUERYGATE_DLP_ENDPOINT", e.DLP}, {"QUERYGATE_WORKFLOWS_ENDPOINT", e.Workflows},
		{"QUERYGATE_SECRETMANAGER_ENDPOINT", e.SecretManager}} {
		if f.value != "" && !loopbackHostPort(f.value) {
			errs = append(errs, fmt.Errorf("%s %q must be a loopback host:port (emulators and tests only)", f.name, f.value))
		}
	}
	for _, f := range []struct{ name, value string }{{"QUERYGATE_BIGQUERY_ENDPOINT", e.BigQuery}, {"QUERYGATE_CLOUDIDENTITY_ENDPOINT", e.CloudIdentity},
		{"QUERYGATE_GOOGLE_CERTS_URL", e.GoogleCerts}} {
		if f.value != "" && !loopbackURL(f.value) {
			errs = append(errs, fmt.Errorf("%s %q must be an http or https URL on a loopback host (emulators and tests only)", f.name, f.value))
		}
	}
	return errs
}

func loopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func loopbackHostPort(hp string) bool {
	host, port, err := net.SplitHostPort(hp)
	return err == nil && port != "" && loopbackHost(host)
}

func loopbackURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.User == nil && loopbackHost(u.Hostname())
}

// grpcConns are the connections to gRPC endpoints, one per address for the
// life of the process, shared by every client of that endpoint.
var (
	grpcConnsMu sync.Mutex
	grpcConns   = map[string]*grpc.ClientConn{}
)

// grpcOptions returns the options that reach a gRPC endpoint, or none when
// endpoint is empty (Google's endpoint, with TLS and credentials).
// Validate has checked that a set endpoint is on loopback, the only place
// where plain text and no credentials are acceptable.
func grpcOptions(endpoint string) ([]option.ClientOption, error) {
	if endpoint == "" {
		return nil, nil
	}
	if !loopbackHostPort(endpoint) {
		return nil, fmt.Errorf("%w: endpoint %q is not on loopback", errConfig, endpoint)
	}
	grpcConnsMu.Lock()
	defer grpcConnsMu.Unlock()
	conn, ok := grpcConns[endpoint]
	if !ok {
		var err error
		if conn, err = grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials())); err != nil {
			return nil, fmt.Errorf("%w: connect to %s: %w", errConfig, endpoint, err)
		}
		grpcConns[endpoint] = conn
	}
	return []option.ClientOption{option.WithGRPCConn(conn), option.WithoutAuthentication()}, nil
}

// restOptions returns the options that reach a REST endpoint, or none when
// endpoint is empty.
func restOptions(endpoint string) ([]option.ClientOption, error) {
	if endpoint == "" {
		return nil, nil
	}
	if !loopbackURL(endpoint) {
		return nil, fmt.Errorf("%w: endpoint %q is not on loopback", errConfig, endpoint)
	}
	return []option.ClientOption{option.WithEndpoint(strings.TrimRight(endpoint, "/") + "/"), option.WithoutAuthentication()}, nil
}

// googleCertsClient returns the HTTP client of the Google ID token
// verifiers: nil (idtoken's own) unless Endpoints.GoogleCerts is set.
func (e Endpoints) googleCertsClient() (*http.Client, error) {
	if e.GoogleCerts == "" {
		return nil, nil
	}
	if !loopbackURL(e.GoogleCerts) {
		return nil, fmt.Errorf("%w: QUERYGATE_GOOGLE_CERTS_URL %q is not on loopback", errConfig, e.GoogleCerts)
	}
	return &http.Client{Transport: certsRedirect{to: e.GoogleCerts, next: http.DefaultTransport}}, nil
}

// certsRedirect sends idtoken's fetch of Google's certificates to another
// URL and refuses every other request.
type certsRedirect struct {
	to   string
	next http.RoundTripper
}

var errNotCerts = errors.New("the Google certificates override serves only " + googleCertsURL)

func (c certsRedirect) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.String() != googleCertsURL {
		return nil, fmt.Errorf("%w, not %s", errNotCerts, r.URL.Redacted())
	}
	u, err := url.Parse(c.to)
	if err != nil {
		return nil, err
	}
	r2 := r.Clone(r.Context())
	r2.URL, r2.Host = u, u.Host
	return c.next.RoundTrip(r2)
}
