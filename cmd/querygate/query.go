package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func runQuery(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("query", flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "gateway URL")
	token := fs.String("token", "", "ID token (default: $QUERYGATE_TOKEN)")
	sql := fs.String("sql", "", "SQL to run (required)")
	prompt := fs.String("prompt", "", "the prompt that led to this query")
	conv := fs.String("conversation", "", "conversation id")
	wait := fs.Duration("wait", 15*time.Minute, "how long to wait for approval and the result")
	if err := fs.Parse(args); err != nil {
		return exitCode(2)
	}
	if *token == "" {
		*token = os.Getenv("QUERYGATE_TOKEN")
	}
	if *sql == "" || *token == "" {
		fmt.Fprintln(stderr, "querygate query: --sql and a token (--token or $QUERYGATE_TOKEN) are required")
		return exitCode(2)
	}
	body, _ := json.Marshal(map[string]any{"sql": *sql, "prompt": *prompt, "conversation_id": *conv,
		"agent": map[string]string{"name": "querygate-cli"}, "wait_seconds": 10})
	start := time.Now()
	code, out, err := call(ctx, http.MethodPost, *url+"/v1/queries", *token, body)
	if err != nil {
		return err
	}
	for code == http.StatusAccepted && time.Since(start) < *wait {
		id, _ := out["session_id"].(string)
		status, _ := out["status"].(string)
		line := fmt.Sprintf("\r%s  %-16s  %6s", id, status, time.Since(start).Round(time.Second))
		if a, ok := out["approval"].(map[string]any); ok {
			if ap, ok := a["approvers"].([]any); ok {
				line += fmt.Sprintf("  asked: %v", ap)
			}
		} else if ap, ok := out["approvers"].([]any); ok {
			line += fmt.Sprintf("  asked: %v", ap)
		}
		fmt.Fprint(stderr, line)
		code, out, err = call(ctx, http.MethodGet, *url+"/v1/sessions/"+id+"?wait_seconds=5", *token, nil)
		if err != nil {
			return err
		}
		if s, _ := out["status"].(string); code == http.StatusOK && s != "succeeded" && s != "denied" && s != "rejected" && s != "expired" && s != "failed" {
			code = http.StatusAccepted
		}
	}
	fmt.Fprintln(stderr)
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(out)
	if s, _ := out["status"].(string); s != "succeeded" {
		return exitCode(1)
	}
	return nil
}

func call(ctx context.Context, method, url, token string, body []byte) (int, map[string]any, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("call gateway: %w", err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("gateway answered %d with a body that is not JSON", resp.StatusCode)
	}
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnprocessableEntity {
		msg, _ := out["error"].(string)
		return resp.StatusCode, out, fmt.Errorf("gateway answered %d: %s", resp.StatusCode, strings.TrimSpace(msg))
	}
	return resp.StatusCode, out, nil
}
