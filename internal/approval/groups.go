package approval

import (
	"context"
	"fmt"
)

// Groups resolves an approver group to the emails of its members. Locally
// it is StaticGroups from config; in the cloud, Cloud Identity's
// groups.memberships API.
type Groups interface {
	// Members returns the member emails of group, or an error wrapping
	// ErrUnknownGroup.
	Members(ctx context.Context, group string) ([]string, error)
}

// StaticGroups is a Groups from a map of group name to member emails.
type StaticGroups map[string][]string

var _ Groups = StaticGroups(nil)

// Members implements Groups.
func (g StaticGroups) Members(_ context.Context, group string) ([]string, error) {
	m, ok := g[group]
	if !ok {
		return nil, fmt.Errorf("group %q: %w", group, ErrUnknownGroup)
	}
	return append([]string(nil), m...), nil
}
