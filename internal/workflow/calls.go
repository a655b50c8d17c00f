package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// callBuiltin runs a standard library call step. Workflow errors come back
// as *RaisedError; anything else aborts the step (context cancelled).
func (x *execution) callBuiltin(ctx context.Context, st *step, args map[string]any) (any, error) {
	switch st.call {
	case "http.get", "http.post", "http.put", "http.patch", "http.delete":
		return x.httpCall(ctx, strings.ToUpper(strings.TrimPrefix(st.call, "http.")), args)
	case "http.request":
		m, ok := args["method"].(string)
		if !ok {
			return nil, raiseTag("TypeError", "http.request: method must be a string")
		}
		return x.httpCall(ctx, strings.ToUpper(m), args)
	case "sys.log":
		return nil, x.sysLog(ctx, args)
	case "sys.sleep":
		secs, ok := toFloat(args["seconds"])
		if !ok || secs < 0 || math.IsNaN(secs) {
			return nil, raiseTag("ValueError", "sys.sleep: seconds must be a non-negative number")
		}
		if err := x.rt.sleep(ctx, time.Duration(secs*float64(time.Second))); err != nil {
			return nil, err
		}
		return nil, nil
	case "sys.now":
		return exprFuncs["sys.now"].fn(x.env(), nil)
	case "sys.get_env":
		a := []any{args["name"]}
		if d, ok := args["default"]; ok {
			a = append(a, d)
		}
		return exprFuncs["sys.get_env"].fn(x.env(), a)
	case "events.create_callback_endpoint":
		method := "POST"
		if m, ok := args["http_callback_method"]; ok {
			s, ok := m.(string)
			switch strings.ToUpper(s) {
			case "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH":
			default:
				ok = false
			}
			if !ok {
				return nil, raiseTag("ValueError", "events.create_callback_endpoint: bad http_callback_method")
			}
			method = strings.ToUpper(s)
		}
		id := newID()
		x.mu.Lock()
		x.rec.Callbacks[id] = &CallbackState{Method: method}
		x.mu.Unlock()
		u := strings.TrimRight(x.rt.opts.CallbackBase, "/") + "/v1/" + x.name + "/callbacks/" + id
		return map[string]any{"url": u}, nil
	case "events.await_callback":
		return x.awaitCallback(ctx, st, args)
	}
	return nil, raiseTag("SystemError", "call %s is not implemented", st.call)
}

func (x *execution) sysLog(ctx context.Context, args map[string]any) error {
	level := slog.LevelInfo
	if s, ok := args["severity"].(string); ok {
		switch strings.ToUpper(s) {
		case "DEBUG":
			level = slog.LevelDebug
		case "WARNING":
			level = slog.LevelWarn
		case "ERROR", "CRITICAL", "ALERT", "EMERGENCY":
			level = slog.LevelError
		}
	}
	attrs := []any{"execution", x.name, "step", x.cur}
	if v, ok := args["json"]; ok {
		attrs = append(attrs, "json", v)
	}
	if v, ok := args["data"]; ok {
		attrs = append(attrs, "data", v)
	}
	text, _ := args["text"].(string)
	if text == "" {
		if v, ok := args["text"]; ok {
			text = fmt.Sprint(v)
		}
	}
	x.rt.logger.Log(ctx, level, text, attrs...)
	return nil
}

// Default and maximum HTTP timeouts of Workflows' http functions, in
// seconds.
const (
	defaultHTTPTimeout = 300
	maxHTTPTimeout     = 1800
)

func (x *execution) httpCall(ctx context.Context, method string, args map[string]any) (any, error) {
	rawURL, ok := args["url"].(string)
	if !ok || rawURL == "" {
		return nil, raiseTag("TypeError", "http: url must be a non-empty string")
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, raiseTag("ValueError", "http: invalid url")
	}
	if q, ok := args["query"]; ok && q != nil {
		qm, ok := q.(map[string]any)
		if !ok {
			return nil, raiseTag("TypeError", "http: query must be a map")
		}
		vals := u.Query()
		for k, v := range qm {
			switch v := v.(type) {
			case []any:
				for _, e := range v {
					vals.Add(k, scalarString(e))
				}
			default:
				vals.Set(k, scalarString(v))
			}
		}
		u.RawQuery = vals.Encode()
	}
	header := http.Header{}
	if h, ok := args["headers"]; ok && h != nil {
		hm, ok := h.(map[string]any)
		if !ok {
			return nil, raiseTag("TypeError", "http: headers must be a map")
		}
		for k, v := range hm {
			header.Set(k, scalarString(v))
		}
	}
	var body io.Reader
	if b, ok := args["body"]; ok && b != nil {
		bs, isString := b.(string)
		ct := header.Get("Content-Type")
		switch bv := b.(type) {
		case []byte:
			body = bytes.NewReader(bv)
		default:
			if isString && ct != "" && !strings.Contains(ct, "json") {
				body = strings.NewReader(bs)
				break
			}
			enc, err := encodeJSON(b)
			if err != nil {
				return nil, err
			}
			body = bytes.NewReader(enc)
			if header.Get("Content-Type") == "" {
				header.Set("Content-Type", "application/json")
			}
		}
	}
	timeout := float64(defaultHTTPTimeout)
	if t, ok := args["timeout"]; ok {
		f, ok := toFloat(t)
		if !ok || f <= 0 || f > maxHTTPTimeout {
			return nil, raiseTag("ValueError", "http: timeout must be a number of seconds in (0, %d]", maxHTTPTimeout)
		}
		timeout = f
	}
	if a, ok := args["auth"]; ok && a != nil {
		am, _ := a.(map[string]any)
		// The audience defaults to the URL, as documented for OIDC.
		aud := rawURL
		if s, ok := am["audience"].(string); ok && s != "" {
			aud = s
		}
		if x.rt.opts.IDToken == nil {
			return nil, raiseTag("AuthError", "no ID token source configured for OIDC")
		}
		tok, err := x.rt.opts.IDToken(ctx, aud)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, raiseTag("AuthError", "generating OIDC token failed")
		}
		header.Set("Authorization", "Bearer "+tok)
	}
	rctx, cancel := context.WithTimeout(ctx, time.Duration(timeout*float64(time.Second)))
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, method, u.String(), body)
	if err != nil {
		return nil, raiseTag("ValueError", "http: %v", err)
	}
	req.Header = header
	resp, err := x.rt.opts.HTTPClient.Do(req)
	if err != nil {
		return nil, classifyHTTPError(ctx, rctx, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPResponseBytes+1))
	if err != nil {
		return nil, classifyHTTPError(ctx, rctx, err)
	}
	if len(raw) > maxHTTPResponseBytes {
		return nil, raiseTag("ResourceLimitError", "HTTP response larger than %d bytes", maxHTTPResponseBytes)
	}
	respBody := decodeBody(resp.Header.Get("Content-Type"), raw)
	headers := map[string]any{}
	for k, v := range resp.Header {
		headers[k] = strings.Join(v, ",")
	}
	code := int64(resp.StatusCode)
	if code < 200 || code > 299 {
		return nil, &RaisedError{Value: map[string]any{
			"message": fmt.Sprintf("HTTP server responded with error code %d", code),
			"code":    code,
			"headers": headers,
			"body":    respBody,
			"tags":    []any{"HttpError"},
		}}
	}
	return map[string]any{"body": respBody, "code": code, "headers": headers}, nil
}

func classifyHTTPError(parent, rctx context.Context, err error) error {
	if parent.Err() != nil {
		return parent.Err()
	}
	if rctx.Err() != nil {
		return raiseTag("TimeoutError", "HTTP request timed out")
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return raiseTag("ConnectionFailedError", "connection could not be established")
	}
	return raiseTag("ConnectionError", "connection broke during the HTTP request")
}

// decodeBody decodes a body the way Workflows documents: JSON is parsed,
// text stays a string, anything else is bytes.
func decodeBody(contentType string, raw []byte) any {
	mt, _, _ := mime.ParseMediaType(contentType)
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		if len(bytes.TrimSpace(raw)) == 0 {
			return nil
		}
		if v, err := decodeJSON(raw); err == nil {
			return v
		}
		return string(raw)
	case strings.HasPrefix(mt, "text/"):
		return string(raw)
	case len(raw) == 0:
		return nil
	}
	return raw
}

func scalarString(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case nil:
		return ""
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// defaultAwaitTimeout is await_callback's documented default (12 hours).
const defaultAwaitTimeout = 43200.0

func (x *execution) awaitCallback(ctx context.Context, st *step, args map[string]any) (any, error) {
	cb, ok := args["callback"].(map[string]any)
	if !ok {
		return nil, raiseTag("TypeError", "events.await_callback: callback must be the map from create_callback_endpoint")
	}
	u, _ := cb["url"].(string)
	i := strings.LastIndex(u, "/callbacks/")
	if i < 0 {
		return nil, raiseTag("ValueError", "events.await_callback: callback has no url")
	}
	id := u[i+len("/callbacks/"):]
	timeout := defaultAwaitTimeout
	if t, ok := args["timeout"]; ok && t != nil {
		f, ok := toFloat(t)
		if !ok || f < 0 || math.IsNaN(f) || f > 1e9 {
			return nil, raiseTag("ValueError", "events.await_callback: timeout must be a non-negative number of seconds")
		}
		timeout = f
	}
	x.mu.Lock()
	// Only the id matters: the base URL may differ after a restart on
	// another address, and ids are random and per execution.
	if _, ok := x.rec.Callbacks[id]; !ok {
		x.mu.Unlock()
		return nil, raiseTag("ValueError", "events.await_callback: callback does not belong to this execution")
	}
	a := x.rec.Await
	x.mu.Unlock()
	if a == nil || a.CallbackID != id || a.Block != st.block || a.Index != st.index {
		a = &AwaitState{CallbackID: id, Block: st.block, Index: st.index,
			Deadline: x.rt.now().Add(time.Duration(timeout * float64(time.Second)))}
	}
	// Persist before blocking: the execution becomes visible as awaiting
	// only once that is durable, and a restart re-enters this step with the
	// same deadline.
	x.awaitPending = a
	if err := x.persistRetrying(ctx); err != nil {
		return nil, err
	}
	for {
		x.mu.Lock()
		q := x.rec.Callbacks[id].Queue
		if len(q) > 0 {
			req := q[0]
			x.consume = id
			x.mu.Unlock()
			v, err := decodeJSON(req)
			if err != nil {
				return nil, raiseTag("SystemError", "corrupt callback request")
			}
			return v, nil
		}
		x.mu.Unlock()
		wait := a.Deadline.Sub(x.rt.now())
		if wait <= 0 {
			return nil, x.awaitTimedOut()
		}
		t := time.NewTimer(wait)
		select {
		case <-x.wake:
			t.Stop()
		case <-t.C:
			// The full wait elapsed; a callback that raced the timer is
			// still taken first.
			x.mu.Lock()
			n := len(x.rec.Callbacks[id].Queue)
			x.mu.Unlock()
			if n == 0 {
				return nil, x.awaitTimedOut()
			}
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
}

func (x *execution) awaitTimedOut() error {
	x.mu.Lock()
	x.rec.Await = nil
	x.mu.Unlock()
	return raiseTag("TimeoutError", "timed out waiting for callback")
}
