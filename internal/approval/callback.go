package approval

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// CallbackBody is what the workflow's callback receives.
type CallbackBody struct {
	Decision string `json:"decision"` // approved or rejected
	Approver string `json:"approver"`
	Comment  string `json:"comment"`
}

// callbackAudience is the audience of the token sent with the callback:
// the callback URL's origin, as Cloud Run and the local runtime expect.
func callbackAudience(callbackURL string) string {
	u, err := url.Parse(callbackURL)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// deliver posts the decision to the callback URL with a bearer token. Any
// status other than 2xx is an error.
func (s *Service) deliver(ctx context.Context, callbackURL string, body CallbackBody) error {
	tok, err := s.deps.IDToken(ctx, callbackAudience(callbackURL))
	if err != nil {
		return fmt.Errorf("callback token: %w", err)
	}
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, callbackURL, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("callback request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.deps.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("post callback: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("post callback: status %d", resp.StatusCode)
	}
	return nil
}
