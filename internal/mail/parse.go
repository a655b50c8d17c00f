package mail

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	netmail "net/mail"
	"net/url"
	"regexp"
	"strings"
)

// maxParts bounds the MIME parts parsed, so a hostile message cannot make
// the sink recurse or loop for long.
const maxParts = 50

type anchor struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// parseMessage extracts the subject, the first text/plain and text/html
// parts, and the links of a raw RFC 5322 message.
func parseMessage(raw []byte) (Received, error) {
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Received{}, fmt.Errorf("read message: %w", err)
	}
	var r Received
	dec := new(mime.WordDecoder)
	if subj, err := dec.DecodeHeader(m.Header.Get("Subject")); err == nil {
		r.Subject = subj
	} else {
		r.Subject = m.Header.Get("Subject")
	}
	parts := 0
	if err := walkPart(m.Header.Get("Content-Type"), m.Header.Get("Content-Transfer-Encoding"), m.Body, &r, 0, &parts); err != nil {
		return Received{}, err
	}
	r.anchors = htmlAnchors(r.HTML)
	seen := map[string]bool{}
	for _, a := range r.anchors {
		if !seen[a.Href] {
			seen[a.Href] = true
			r.Links = append(r.Links, a.Href)
		}
	}
	for _, u := range textLinkRE.FindAllString(r.Text, -1) {
		u = strings.TrimRight(u, ".,;:)]>'\"")
		if isWebURL(u) && !seen[u] {
			seen[u] = true
			r.Links = append(r.Links, u)
		}
	}
	if r.Links == nil {
		r.Links = []string{}
	}
	return r, nil
}

func walkPart(contentType, cte string, body io.Reader, r *Received, depth int, parts *int) error {
	*parts++
	if depth > 5 || *parts > maxParts {
		return errors.New("too many nested MIME parts")
	}
	if contentType == "" {
		contentType = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return fmt.Errorf("content type %q: %w", contentType, err)
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := walkPart(p.Header.Get("Content-Type"), p.Header.Get("Content-Transfer-Encoding"), p, r, depth+1, parts); err != nil {
				return err
			}
		}
	}
	if mt != "text/plain" && mt != "text/html" {
		return nil
	}
	var rd io.Reader = body
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		rd = quotedprintable.NewReader(body)
	case "base64":
		rd = base64.NewDecoder(base64.StdEncoding, &newlineStripper{r: body})
	}
	b, err := io.ReadAll(io.LimitReader(rd, maxMessageBytes))
	if err != nil {
		return fmt.Errorf("decode %s part: %w", mt, err)
	}
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	if mt == "text/plain" && r.Text == "" {
		r.Text = s
	}
	if mt == "text/html" && r.HTML == "" {
		r.HTML = s
	}
	return nil
}

// newlineStripper drops CR and LF so base64 lines decode as one stream.
type newlineStripper struct{ r io.Reader }

func (n *newlineStripper) Read(p []byte) (int, error) {
	for {
		k, err := n.r.Read(p)
		j := 0
		for _, c := range p[:k] {
			if c != '\r' && c != '\n' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

var (
	anchorRE   = regexp.MustCompile(`(?is)<a\s[^>]*?href\s*=\s*["']([^"']*)["'][^>]*>(.*?)</a>`)
	tagRE      = regexp.MustCompile(`(?s)<[^>]*>`)
	textLinkRE = regexp.MustCompile(`https?://[^\s<>"']+`)
)

func htmlAnchors(h string) []anchor {
	var out []anchor
	for _, m := range anchorRE.FindAllStringSubmatch(h, -1) {
		href := html.UnescapeString(m[1])
		if !isWebURL(href) {
			continue
		}
		text := strings.Join(strings.Fields(html.UnescapeString(tagRE.ReplaceAllString(m[2], ""))), " ")
		out = append(out, anchor{Href: href, Text: text})
	}
	return out
}

func isWebURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
