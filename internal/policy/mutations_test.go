package policy_test

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/querygate/querygate/internal/policy"
	"github.com/querygate/querygate/testing/zetafuzz/check"
)

// TestMutatedRequests applies the fail-closed check to deterministic
// mutations (byte edits and splices) of the adversarial and example
// requests: a quick complement to testing/zetafuzz's FuzzEvaluate that
// runs in every test run.
func TestMutatedRequests(t *testing.T) {
	t.Parallel()
	var seeds []string
	for _, file := range []string{"../../testing/sql/adversarial.yaml", "../../testing/policy/default_test.yaml"} {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var tf policy.TestFile
		if err := yaml.Unmarshal(src, &tf); err != nil {
			t.Fatal(err)
		}
		for _, tc := range tf.Tests {
			seeds = append(seeds, tc.SQL)
		}
	}
	tokens := []string{" ", "*", ",", ";", "(", ")", "`", "'", "--", "/*", "*/", ".", "ssn", "email", "c", "t", "AS", "SELECT", "FROM", "demo.customers",
		"UNION ALL", "EXCEPT", "JOIN", "WITH", "STRUCT", "TO_JSON_STRING", "ARRAY_AGG", "DELETE", "BEGIN", "END", "\x00", "\u0455"}
	rng := rand.New(rand.NewPCG(7, 11))
	e := demoEngine(nil)
	ctx := context.Background()
	n := 3000
	if testing.Short() {
		n = 300
	}
	if v, err := strconv.Atoi(os.Getenv("QUERYGATE_MUTATIONS")); err == nil && v > 0 {
		n = v
	}
	for i := 0; i < n; i++ {
		sql := seeds[rng.IntN(len(seeds))]
		for k := rng.IntN(3) + 1; k > 0; k-- {
			if len(sql) == 0 {
				break
			}
			pos := rng.IntN(len(sql) + 1)
			switch rng.IntN(4) {
			case 0: // insert a token
				sql = sql[:pos] + tokens[rng.IntN(len(tokens))] + sql[pos:]
			case 1: // delete a span
				end := min(len(sql), pos+rng.IntN(8))
				sql = sql[:pos] + sql[end:]
			case 2: // splice another request
				other := seeds[rng.IntN(len(seeds))]
				sql = sql[:pos] + other[rng.IntN(len(other)+1):]
			default: // replace a byte
				if pos < len(sql) {
					sql = sql[:pos] + string(rune(' '+rng.IntN(95))) + sql[pos+1:]
				}
			}
		}
		if err := check.FailClosed(ctx, e, sql); err != nil {
			t.Fatal(err)
		}
	}
}
