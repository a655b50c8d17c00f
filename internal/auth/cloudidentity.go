package auth

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	cloudidentity "google.golang.org/api/cloudidentity/v1"
	"google.golang.org/api/option"

	"github.com/querygate/querygate/internal/session"
)

// CloudIdentity resolves groups with the Cloud Identity Groups API
// (transitive memberships). Group names in policy map to group emails
// through Aliases (e.g. "approvers" → "querygate-approvers@example.com");
// a name without an alias is used as the email itself. Answers are cached
// for TTL so that a burst of queries does not exhaust the API quota.
type CloudIdentity struct {
	svc     *cloudidentity.Service
	aliases map[string]string
	ttl     time.Duration
	now     func() time.Time

	mu    sync.Mutex
	cache map[string]ciEntry
}

type ciEntry struct {
	vals []string
	at   time.Time
}

var _ Groups = (*CloudIdentity)(nil)

// discussionForum is the label of Google Groups; searchTransitiveGroups
// requires a label condition.
const discussionForum = "cloudidentity.googleapis.com/groups.discussion_forum"

// NewCloudIdentity returns a resolver. opts point the client elsewhere in
// tests (option.WithEndpoint, option.WithHTTPClient).
func NewCloudIdentity(ctx context.Context, aliases map[string]string, ttl time.Duration, opts ...option.ClientOption) (*CloudIdentity, error) {
	svc, err := cloudidentity.NewService(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("cloud identity client: %w", err)
	}
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &CloudIdentity{svc: svc, aliases: aliases, ttl: ttl, now: time.Now, cache: map[string]ciEntry{}}, nil
}

func (c *CloudIdentity) cached(key string, load func() ([]string, error)) ([]string, error) {
	c.mu.Lock()
	e, ok := c.cache[key]
	c.mu.Unlock()
	if ok && c.now().Sub(e.at) < c.ttl {
		return slices.Clone(e.vals), nil
	}
	vals, err := load()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.cache[key] = ciEntry{vals: vals, at: c.now()}
	c.mu.Unlock()
	return slices.Clone(vals), nil
}

// GroupsOf implements Groups: the policy names of the groups p belongs to,
// directly or transitively, plus groups already verified on the token.
func (c *CloudIdentity) GroupsOf(ctx context.Context, p *session.Principal) ([]string, error) {
	if p.Email == "" {
		return slices.Clone(p.Groups), nil
	}
	emails, err := c.cached("of:"+p.Email, func() ([]string, error) {
		var out []string
		q := fmt.Sprintf("member_key_id == '%s' && '%s' in labels", strings.ReplaceAll(p.Email, "'", ""), discussionForum)
		err := c.svc.Groups.Memberships.SearchTransitiveGroups("groups/-").Query(q).Pages(ctx, func(r *cloudidentity.SearchTransitiveGroupsResponse) error {
			for _, m := range r.Memberships {
				if m.GroupKey != nil && m.GroupKey.Id != "" {
					out = append(out, strings.ToLower(m.GroupKey.Id))
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("search groups of member: %w", err)
		}
		return out, nil
	})
	if err != nil {
		return nil, err
	}
	names := slices.Clone(p.Groups)
	for _, e := range emails {
		names = append(names, c.nameOf(e))
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// Members implements Groups: the member emails of a group, transitively.
func (c *CloudIdentity) Members(ctx context.Context, group string) ([]string, error) {
	email := c.emailOf(group)
	return c.cached("members:"+email, func() ([]string, error) {
		look, err := c.svc.Groups.Lookup().GroupKeyId(email).Context(ctx).Do()
		if err != nil {
			return nil, fmt.Errorf("look up group %s: %w", group, err)
		}
		var out []string
		err = c.svc.Groups.Memberships.SearchTransitiveMemberships(look.Name).Pages(ctx, func(r *cloudidentity.SearchTransitiveMembershipsResponse) error {
			for _, m := range r.Memberships {
				for _, k := range m.PreferredMemberKey {
					if k != nil && k.Id != "" {
						out = append(out, strings.ToLower(k.Id))
					}
				}
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("members of group %s: %w", group, err)
		}
		slices.Sort(out)
		return slices.Compact(out), nil
	})
}

func (c *CloudIdentity) emailOf(name string) string {
	if e, ok := c.aliases[name]; ok {
		return strings.ToLower(e)
	}
	return strings.ToLower(name)
}

func (c *CloudIdentity) nameOf(email string) string {
	for n, e := range c.aliases {
		if strings.EqualFold(e, email) {
			return n
		}
	}
	return email
}
