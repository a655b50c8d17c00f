package approval

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/querygate/querygate/internal/session"
)

// runBinding is everything besides the SQL text that changes what a query
// returns: the dataset unqualified table names resolve against and the
// values bound to its parameters. A link is signed for all of it, so an
// approver's "yes" covers exactly what runs.
type runBinding struct {
	V              int            `json:"v"`
	SQLSHA256      string         `json:"sql_sha256"`
	DefaultDataset string         `json:"default_dataset"`
	Parameters     []runParameter `json:"parameters"`
}

type runParameter struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Value json.RawMessage `json:"value"`
}

// RunHash returns the lowercase hex SHA-256 of what the session will run:
// the SHA-256 of its exact SQL, its default dataset and its parameters in
// order. Parameter values are compacted first, because stores re-encode
// JSON and only insignificant white space may differ between a session
// read back and the one the link was signed for.
func RunHash(ss *session.Session) string {
	b := runBinding{V: 1, SQLSHA256: session.SQLHash(ss.SQL), DefaultDataset: ss.DefaultDataset, Parameters: []runParameter{}}
	for _, p := range ss.Parameters {
		var v bytes.Buffer
		if err := json.Compact(&v, p.Value); err != nil {
			// Not JSON: hash the bytes as they are, still binding them.
			v.Reset()
			raw, _ := json.Marshal(string(p.Value))
			v.Write(raw)
		}
		b.Parameters = append(b.Parameters, runParameter{Name: p.Name, Type: p.Type, Value: v.Bytes()})
	}
	js, err := json.Marshal(b)
	if err != nil {
		// Only strings and compacted JSON are encoded: unreachable, and
		// a hash of nothing would match no link.
		return ""
	}
	sum := sha256.Sum256(js)
	return hex.EncodeToString(sum[:])
}

// queryChanged reports which refusal applies when the session no longer is
// what the link c was signed for, or nil when it still is.
func queryChanged(c Claims, ss *session.Session) *Refusal {
	if c.SQLSHA256 != ss.SQLSHA256 || c.SQLSHA256 != session.SQLHash(ss.SQL) {
		return refuseSQLChanged
	}
	if h := RunHash(ss); h == "" || c.RunSHA256 != h {
		return refuseRunChanged
	}
	return nil
}
