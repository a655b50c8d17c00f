package cloudbox

import (
	"bufio"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/querygate/querygate/internal/auth"
)

// The stand-ins for Google's front ends, served over TLS by a test CA that
// the children trust through SSL_CERT_FILE:
//   - Google's OAuth 2.0 certificates (QUERYGATE_GOOGLE_CERTS_URL) for the
//     ID tokens the workflow sends, signed by a key of the box;
//   - the agents' issuer (QUERYGATE_OIDC_ISSUERS), with OIDC discovery;
//   - the OAuth 2.0 token endpoint of the service-account key files
//     (GOOGLE_APPLICATION_CREDENTIALS), which issues access tokens;
//   - an HTTPS proxy (HTTPS_PROXY) that carries only the approval
//     function's callback to workflowexecutions.googleapis.com, where the
//     local runtime's callback handler answers; any other host a child
//     tries to reach is refused and reported.

// callbackHost is where Workflows callback URLs point.
const callbackHost = "workflowexecutions.googleapis.com"

type google struct {
	t        *testing.T
	caFile   string
	tlsCfg   *tls.Config // server side
	clientCA *x509.CertPool
	srv      *http.Server
	base     string // https://127.0.0.1:PORT

	googleIDs *auth.DevIssuer // iss https://accounts.google.com
	agents    *auth.DevIssuer // iss base + "/dev/oidc"

	saKey *rsa.PrivateKey // the key of every service account's key file

	mu      sync.Mutex
	tokens  map[string]string // access token -> service account email
	refused []string          // hosts the proxy refused

	proxy     net.Listener
	callbacks chan net.Conn
	cbHandler http.Handler
}

func startGoogle(t *testing.T, dir string) *google {
	t.Helper()
	g := &google{t: t, tokens: map[string]string{}, callbacks: make(chan net.Conn)}
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "querygate cloudbox CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "cloudbox"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost", callbackHost}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	g.caFile = filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(g.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	g.clientCA = x509.NewCertPool()
	g.clientCA.AddCert(ca)
	g.tlsCfg = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: leafKey}}, MinVersion: tls.VersionTLS12}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.base = "https://" + ln.Addr().String()
	if g.googleIDs, err = auth.LoadOrCreateDevIssuer(filepath.Join(dir, "google-issuer"), auth.GoogleIssuers[0]); err != nil {
		t.Fatal(err)
	}
	if g.agents, err = auth.LoadOrCreateDevIssuer(filepath.Join(dir, "agent-issuer"), g.base+"/dev/oidc"); err != nil {
		t.Fatal(err)
	}
	if g.saKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/dev/oidc/", g.agents.Handler())
	mux.HandleFunc("GET /google/certs", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(g.googleIDs.JWKS())
	})
	mux.HandleFunc("POST /token", g.serveToken)
	g.srv = &http.Server{Handler: mux, TLSConfig: g.tlsCfg, ReadHeaderTimeout: 10 * time.Second}
	go g.srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { g.srv.Close() })

	if g.proxy, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	go g.serveProxy()
	cbSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.cbHandler == nil {
			http.Error(w, "no runtime", http.StatusServiceUnavailable)
			return
		}
		g.cbHandler.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	go cbSrv.Serve(chanListener{c: g.callbacks, done: make(chan struct{}), once: new(sync.Once), addr: g.proxy.Addr()})
	t.Cleanup(func() { g.proxy.Close(); cbSrv.Close() })
	return g
}

// certsURL is QUERYGATE_GOOGLE_CERTS_URL.
func (g *google) certsURL() string { return g.base + "/google/certs" }

// proxyURL is the children's HTTPS_PROXY.
func (g *google) proxyURL() string { return "http://" + g.proxy.Addr().String() }

// idToken mints a Google ID token for a service account, as Workflows'
// auth: {type: OIDC} does: audience the URL called.
func (g *google) idToken(email, audience string) (string, error) {
	return g.googleIDs.Mint(auth.MintOptions{Subject: email, Audience: audience, TTL: 10 * time.Minute})
}

// agentToken mints an agent's ID token of the agents' issuer.
func (g *google) agentToken(t *testing.T, email, audience string, groups ...string) string {
	t.Helper()
	tok, err := g.agents.Mint(auth.MintOptions{Subject: email, Audience: audience, Groups: groups, TTL: 10 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// keyFile writes a service-account key file for email whose token_uri is
// the box's token endpoint, as GOOGLE_APPLICATION_CREDENTIALS. The key is
// g.saKey, generated for each run (rsa.GenerateKey in startGoogle), and the
// file goes to the test's temporary directory: no key is in the repository.
func (g *google) keyFile(t *testing.T, dir, email string) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(g.saKey)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(map[string]string{"type": "service_account", "project_id": boxProject, "private_key_id": "box-key",
		"private_key": string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})), "client_email": email,
		"client_id": "1", "token_uri": g.base + "/token"})
	path := filepath.Join(dir, strings.Split(email, "@")[0]+".json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serveToken is the OAuth 2.0 JWT-bearer grant (RFC 7523) of a service
// account key: the assertion must be signed by the key files' key, and the
// access token issued is bound to the assertion's issuer.
func (g *google) serveToken(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil || r.PostForm.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	tok, err := jwt.ParseSigned(r.PostForm.Get("assertion"), []jose.SignatureAlgorithm{jose.RS256})
	var claims jwt.Claims
	if err == nil {
		err = tok.Claims(&g.saKey.PublicKey, &claims)
	}
	if err == nil {
		err = claims.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{g.base + "/token"}, Time: time.Now()}, time.Minute)
	}
	if err != nil || !strings.HasSuffix(claims.Issuer, ".iam.gserviceaccount.com") {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	var b [24]byte
	_, _ = rand.Read(b[:])
	access := "ya29.box-" + hex.EncodeToString(b[:])
	g.mu.Lock()
	g.tokens[access] = claims.Issuer
	g.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": access, "token_type": "Bearer", "expires_in": 3600})
}

// accessTokenEmail is the service account an access token was issued to,
// as Workflows learns it from Google's token info.
func (g *google) accessTokenEmail(token string) (string, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	e, ok := g.tokens[token]
	return e, ok
}

// issuedTo reports whether the token endpoint issued an access token to
// the service account email.
func (g *google) issuedTo(email string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, e := range g.tokens {
		if e == email {
			return true
		}
	}
	return false
}

// serveProxy answers CONNECT: to callbackHost:443 with a TLS tunnel that
// ends at the callback handler; to anything else with 403.
func (g *google) serveProxy() {
	for {
		c, err := g.proxy.Accept()
		if err != nil {
			return
		}
		go func() {
			br := bufio.NewReader(c)
			req, err := http.ReadRequest(br)
			if err != nil {
				c.Close()
				return
			}
			if req.Method != http.MethodConnect || req.Host != callbackHost+":443" {
				g.mu.Lock()
				g.refused = append(g.refused, req.Method+" "+req.Host)
				g.mu.Unlock()
				_, _ = c.Write([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n"))
				c.Close()
				return
			}
			if _, err := c.Write([]byte("HTTP/1.1 200 Connection Established\r\n\r\n")); err != nil {
				c.Close()
				return
			}
			select {
			case g.callbacks <- tls.Server(bufferedConn{Conn: c, r: br}, g.tlsCfg):
			case <-time.After(10 * time.Second):
				c.Close()
			}
		}()
	}
}

// refusedHosts lists what the children tried to reach through the proxy
// besides the callback.
func (g *google) refusedHosts() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.refused...)
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }

// chanListener is a net.Listener of the connections the proxy tunnels.
type chanListener struct {
	c    chan net.Conn
	done chan struct{}
	once *sync.Once
	addr net.Addr
}

func (l chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.c:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}
func (l chanListener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l chanListener) Addr() net.Addr { return l.addr }

// cloudIdentity serves the two Cloud Identity calls notify makes to list an
// approver group: groups:lookup, then searchTransitiveMemberships.
func cloudIdentity(members map[string][]string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.URL.Path == "/v1/groups:lookup":
			if _, ok := members[r.URL.Query().Get("groupKey.id")]; !ok {
				w.WriteHeader(http.StatusNotFound)
				_, _ = w.Write([]byte(`{"error":{"code":404,"message":"group not found","status":"NOT_FOUND"}}`))
				return
			}
			_ = json.NewEncoder(w).Encode(map[string]string{"name": "groups/" + url.PathEscape(r.URL.Query().Get("groupKey.id"))})
		case strings.HasPrefix(r.URL.Path, "/v1/groups/") && strings.HasSuffix(r.URL.Path, "/memberships:searchTransitiveMemberships"):
			id, _ := url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v1/groups/"), "/memberships:searchTransitiveMemberships"))
			var ms []map[string]any
			for _, m := range members[id] {
				ms = append(ms, map[string]any{"preferredMemberKey": []map[string]string{{"id": m}}})
			}
			_ = json.NewEncoder(w).Encode(map[string]any{"memberships": ms})
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"error":{"code":404,"message":"no such method in the box","status":"NOT_FOUND"}}`))
		}
	})
}
