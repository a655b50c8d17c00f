package auth

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/querygate/querygate/internal/session"
)

// DefaultPrivilegedGroups are the groups that give power over other
// people's data or decisions: approving held queries, reading every
// session, reversing tokens. A token's claims never grant them unless the
// issuer's rules name them in AllowPrivileged.
var DefaultPrivilegedGroups = []string{"approvers", "auditors", "reidentifiers"}

// ClaimGroups are the rules for the groups one issuer's tokens may claim.
// The zero value takes claim values as group names and drops
// every privileged one.
type ClaimGroups struct {
	// Map, when set, renames claim values to querygate group names; a
	// value it does not list grants nothing. This ties a group name to
	// the issuer: "org/data-team" of one issuer and "analysts" of another
	// can both mean analysts, and neither issuer can name the other's.
	Map map[string]string
	// Privileged lists the deployment's powerful groups; empty means
	// DefaultPrivilegedGroups.
	Privileged []string
	// AllowPrivileged lists the privileged groups this issuer's claims
	// may grant. Only an explicit entry here lets a claim grant one.
	AllowPrivileged []string
}

// Apply returns the groups that raw claim values grant under the rules,
// sorted and without duplicates.
func (c ClaimGroups) Apply(raw []string) []string {
	priv := c.Privileged
	if len(priv) == 0 {
		priv = DefaultPrivilegedGroups
	}
	var out []string
	for _, v := range raw {
		g := v
		if c.Map != nil {
			var ok bool
			if g, ok = c.Map[v]; !ok {
				continue
			}
		}
		if g == "" || (slices.Contains(priv, g) && !slices.Contains(c.AllowPrivileged, g)) {
			continue
		}
		out = append(out, g)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ErrPrincipalNotAllowed means the issuer's allow-list does not name the
// token's principal.
var ErrPrincipalNotAllowed = errors.New("principal is not on the issuer's allow-list")

// AllowOnly admits only the principals listed, each an email or a subject
// of issuer; other tokens of that issuer fail verification. It wraps the
// verifier of one issuer. An empty list admits every principal.
func AllowOnly(v Verifier, issuer string, principals []string) Verifier {
	if len(principals) == 0 {
		return v
	}
	a := &allowList{next: v, issuer: issuer}
	for _, p := range principals {
		p = strings.TrimSpace(p)
		a.subjects = append(a.subjects, p)
		if strings.Contains(p, "@") {
			a.emails = append(a.emails, strings.ToLower(p))
		}
	}
	return a
}

// allowList compares emails without case, as mail does, and subjects
// exactly, as OIDC does.
type allowList struct {
	next     Verifier
	issuer   string
	emails   []string
	subjects []string
}

func (a *allowList) Verify(ctx context.Context, raw string) (*session.Principal, error) {
	p, err := a.next.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if p.Issuer != a.issuer {
		return nil, fmt.Errorf("issuer %q is not %q", p.Issuer, a.issuer)
	}
	if (p.Email != "" && slices.Contains(a.emails, strings.ToLower(p.Email))) || (p.Subject != "" && slices.Contains(a.subjects, p.Subject)) {
		return p, nil
	}
	return nil, ErrPrincipalNotAllowed
}

// IssuerRules is the trust configuration of one issuer beyond its keys
// and audience.
type IssuerRules struct {
	Issuer string
	// GroupsClaim names the claim that lists groups; empty means the
	// deployment's default claim name (QUERYGATE_GROUPS_CLAIM). An issuer
	// without rules grants no group at all.
	GroupsClaim string
	Groups      ClaimGroups
	// Principals, when set, is the allow-list of the issuer's principals
	// (emails or subjects).
	Principals []string
}

// ParseIssuerRules reads rules of the form
//
//	issuer|claim=groups|map=org/data:analysts;org/sec:auditors|privileged=auditors|principals=a@x.com;b@x.com
//
// one entry per issuer. Every key is optional; map pairs, privileged groups
// and principals are separated by ";". An allowed privileged group is
// granted only by a claim value that names it (after map).
func ParseIssuerRules(entries []string) (map[string]IssuerRules, error) {
	out := map[string]IssuerRules{}
	var errs []error
	for _, e := range entries {
		parts := strings.Split(e, "|")
		iss := strings.TrimSpace(parts[0])
		if !strings.HasPrefix(iss, "https://") {
			errs = append(errs, fmt.Errorf("issuer rules %q: the issuer must be an https URL", e))
			continue
		}
		if _, dup := out[iss]; dup {
			errs = append(errs, fmt.Errorf("issuer rules: %s is given twice", iss))
			continue
		}
		r := IssuerRules{Issuer: iss}
		for _, kv := range parts[1:] {
			k, v, ok := strings.Cut(kv, "=")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || v == "" {
				errs = append(errs, fmt.Errorf("issuer rules %s: %q must be key=value", iss, kv))
				continue
			}
			switch k {
			case "claim":
				r.GroupsClaim = v
			case "map":
				r.Groups.Map = map[string]string{}
				for _, pair := range splitList(v) {
					from, to, ok := strings.Cut(pair, ":")
					if !ok || from == "" || to == "" {
						errs = append(errs, fmt.Errorf("issuer rules %s: map entry %q must be claim-value:group", iss, pair))
						continue
					}
					r.Groups.Map[from] = to
				}
			case "privileged":
				r.Groups.AllowPrivileged = splitList(v)
			case "principals":
				r.Principals = splitList(v)
			default:
				errs = append(errs, fmt.Errorf("issuer rules %s: unknown key %q (claim, map, privileged, principals)", iss, k))
			}
		}
		out[iss] = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
