package auth

import (
	"context"
	"slices"

	"github.com/querygate/querygate/internal/session"
)

// Groups resolves group membership. Implementations: token claims (Claims),
// a static map from config (Static), and Cloud Identity (CloudIdentity).
type Groups interface {
	// GroupsOf returns the groups p belongs to.
	GroupsOf(ctx context.Context, p *session.Principal) ([]string, error)
	// Members returns the members of group (approver lookup).
	Members(ctx context.Context, group string) ([]string, error)
}

// Static is a group → member emails map from config. It also honours
// groups already on the principal when TrustClaims is set.
type Static struct {
	Map         map[string][]string
	TrustClaims bool
}

var _ Groups = (*Static)(nil)

// GroupsOf implements Groups.
func (s *Static) GroupsOf(_ context.Context, p *session.Principal) ([]string, error) {
	var out []string
	if s.TrustClaims {
		out = append(out, p.Groups...)
	}
	if p.Email != "" {
		for g, members := range s.Map {
			if slices.Contains(members, p.Email) {
				out = append(out, g)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// Members implements Groups.
func (s *Static) Members(_ context.Context, group string) ([]string, error) {
	return slices.Clone(s.Map[group]), nil
}
