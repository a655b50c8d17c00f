package approval

import (
	"fmt"
	"time"

	"github.com/querygate/querygate/internal/session"
)

// details is what the mail and the page show about a held query.
type details struct {
	SessionID      string
	Requester      string
	Agent          string
	Prompt         string
	SQL            string
	Reasons        []string
	Group          string
	EstimatedBytes string
	ExpiresAt      string
}

func newDetails(ss *session.Session, expires time.Time) details {
	d := details{
		SessionID: ss.ID,
		Requester: ss.Principal.Email,
		Prompt:    ss.Prompt,
		SQL:       ss.SQL,
		ExpiresAt: expires.UTC().Format("2006-01-02 15:04 MST"),
	}
	if d.Requester == "" {
		d.Requester = ss.Principal.Subject
	}
	switch {
	case ss.Agent.Name != "" && ss.Agent.Model != "":
		d.Agent = ss.Agent.Name + " (" + ss.Agent.Model + ")"
	case ss.Agent.Name != "":
		d.Agent = ss.Agent.Name
	case ss.Agent.Model != "":
		d.Agent = ss.Agent.Model
	default:
		d.Agent = "(not declared)"
	}
	if ss.Decision != nil {
		d.Reasons = ss.Decision.Reasons
		d.Group = ss.Decision.ApproverGroup
		d.EstimatedBytes = humanBytes(ss.Decision.EstimatedBytes)
	} else {
		d.EstimatedBytes = humanBytes(0)
	}
	if ss.Approval != nil && ss.Approval.Group != "" {
		d.Group = ss.Approval.Group
	}
	return d
}

// humanBytes renders n as "1.5 GiB (1610612736 bytes)".
func humanBytes(n int64) string {
	if n <= 0 {
		return "unknown"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 5; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB (%d bytes)", float64(n)/float64(div), "KMGTPE"[exp], n)
}
