package policy

import "github.com/querygate/querygate/internal/sqlscan"

// SensitiveColumnsOf returns the policy file's sensitive_columns that cover
// ref, as lower-case column name -> infoTypes (nil when none), by the same
// matching the engine uses. `querygate policy classify` reports them as the
// "file" source.
func (p *Policy) SensitiveColumnsOf(ref sqlscan.TableRef) map[string][]string {
	var out map[string][]string
	for k, kc := range p.sensitive {
		if !k.covers(ref, p) {
			continue
		}
		if out == nil {
			out = map[string][]string{}
		}
		for c, it := range kc {
			out[c] = uniqueSorted(append(out[c], it...))
		}
	}
	return out
}
