package warehouse

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/session"
)

// FuzzParameters feeds arbitrary query parameters, as an agent sends them,
// to Parameters. It must never panic, an error never quotes the value, and
// an accepted parameter keeps its name and has a value of its declared type.
func FuzzParameters(f *testing.F) {
	f.Add("n", "INT64", []byte(`9007199254740993`))
	f.Add("s", "STRING", []byte(`"4111 1111 1111 1111"`))
	f.Add("f", "FLOAT64", []byte(`1e308`))
	f.Add("b", "BOOL", []byte(`true`))
	f.Add("x", "", []byte(`{"a":[1,2]}`))
	f.Add("x", "DATE", []byte(`"2026-11-28"`))
	f.Add("n", "int64", []byte(`12.5`))
	f.Fuzz(func(t *testing.T, name, typ string, value []byte) {
		ps := []session.Parameter{{Name: name, Type: typ, Value: json.RawMessage(value)}}
		out, err := Parameters(ps)
		if err != nil {
			// The value may only show up when it is also the name or the
			// type, which the caller chose to send in the clear.
			v := strings.Trim(string(value), `"`)
			if len(v) >= 6 && !strings.Contains(name, v) && !strings.Contains(typ, v) && strings.Contains(err.Error(), v) {
				t.Fatalf("error quotes the value %q: %v", v, err)
			}
			return
		}
		if len(out) != 1 || out[0].Name != name {
			t.Fatalf("Parameters = %+v, want one parameter named %q", out, name)
		}
		switch strings.ToUpper(typ) {
		case "INT64", "INTEGER":
			if _, ok := out[0].Value.(int64); !ok {
				t.Fatalf("INT64 parameter holds %T", out[0].Value)
			}
		case "FLOAT64", "FLOAT":
			if _, ok := out[0].Value.(float64); !ok {
				t.Fatalf("FLOAT64 parameter holds %T", out[0].Value)
			}
		case "BOOL", "BOOLEAN":
			if _, ok := out[0].Value.(bool); !ok {
				t.Fatalf("BOOL parameter holds %T", out[0].Value)
			}
		case "STRING":
			if _, ok := out[0].Value.(string); !ok {
				t.Fatalf("STRING parameter holds %T", out[0].Value)
			}
		}
	})
}
