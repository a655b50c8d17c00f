package approval

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/querygate/querygate/internal/session"
)

func runSession() *session.Session {
	return &session.Session{
		SQL:            "SELECT 1",
		SQLSHA256:      session.SQLHash("SELECT 1"),
		DefaultDataset: "demo",
		Parameters:     []session.Parameter{{Name: "id", Type: "INT64", Value: json.RawMessage(`42`)}},
	}
}

func TestRunHash(t *testing.T) {
	t.Parallel()
	// The encoding is spelled out here, independently of RunHash.
	canonical := `{"v":1,"sql_sha256":"e004ebd5b5532a4b85984a62f8ad48a81aa3460c1ca07701f386135d72cdecf5","default_dataset":"demo","parameters":[{"name":"id","type":"INT64","value":42}]}`
	sum := sha256.Sum256([]byte(canonical))
	if got, want := RunHash(runSession()), hex.EncodeToString(sum[:]); got != want {
		t.Fatalf("RunHash = %s, want %s", got, want)
	}
	if got := RunHash(runSession()); got != "fb99e69c22d553b1f5d2e0e59514320ae405723cb2e12b729f87050cfb245463" {
		t.Errorf("RunHash = %s", got)
	}
	base := RunHash(runSession())
	same := runSession()
	same.Parameters[0].Value = json.RawMessage(" 42 \n")
	if RunHash(same) != base {
		t.Error("white space around a parameter value changed the hash")
	}
	for name, mut := range map[string]func(*session.Session){
		"sql":             func(s *session.Session) { s.SQL = "SELECT 2" },
		"default_dataset": func(s *session.Session) { s.DefaultDataset = "other-proj.demo" },
		"no_dataset":      func(s *session.Session) { s.DefaultDataset = "" },
		"value":           func(s *session.Session) { s.Parameters[0].Value = json.RawMessage(`43`) },
		"value_type":      func(s *session.Session) { s.Parameters[0].Value = json.RawMessage(`"42"`) },
		"name":            func(s *session.Session) { s.Parameters[0].Name = "id2" },
		"type":            func(s *session.Session) { s.Parameters[0].Type = "STRING" },
		"added": func(s *session.Session) {
			s.Parameters = append(s.Parameters, session.Parameter{Name: "x", Value: json.RawMessage(`1`)})
		},
		"removed":  func(s *session.Session) { s.Parameters = nil },
		"not_json": func(s *session.Session) { s.Parameters[0].Value = json.RawMessage(`4 2`) },
	} {
		s := runSession()
		mut(s)
		if RunHash(s) == base {
			t.Errorf("%s: change does not change the hash", name)
		}
	}
}

// heldRunSession is heldSession with a default dataset and parameters.
func (e *env) heldRunSession(id string) {
	e.t.Helper()
	e.heldSession(id, "SELECT name FROM customers WHERE customer_id = @id")
	_, err := e.store.Update(context.Background(), id, func(s *session.Session) error {
		s.DefaultDataset = "querygate-local.demo"
		s.Parameters = []session.Parameter{{Name: "id", Type: "INT64", Value: json.RawMessage(`42`)}}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func TestDecideRefusesChangedRun(t *testing.T) {
	t.Parallel()
	for name, mut := range map[string]func(*session.Session){
		"default_dataset": func(s *session.Session) { s.DefaultDataset = "other-proj.demo" },
		"parameter_value": func(s *session.Session) { s.Parameters[0].Value = json.RawMessage(`"1 OR TRUE"`) },
		"parameter_added": func(s *session.Session) {
			s.Parameters = append(s.Parameters, session.Parameter{Name: "limit", Type: "INT64", Value: json.RawMessage(`1000000`)})
		},
		"parameters_removed": func(s *session.Session) { s.Parameters = nil },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			e.heldRunSession("s1")
			e.notify("s1")
			approve, _ := e.links("bob@example.com", "s1")
			if c := claimsOf(t, e, tokenOf(t, approve)); c.RunSHA256 != RunHash(e.get("s1")) {
				t.Fatalf("link binds run hash %s, session has %s", c.RunSHA256, RunHash(e.get("s1")))
			}
			b := newBrowser(t)
			p := b.Get(approve)
			if p.Status != 200 {
				t.Fatalf("GET before the change: %d %q", p.Status, p.Code())
			}
			if _, err := e.store.Update(context.Background(), "s1", func(s *session.Session) error { mut(s); return nil }); err != nil {
				t.Fatal(err)
			}
			before := e.snap("s1")
			if g := b.Get(approve); g.Status != 409 || g.Code() != "query_changed" {
				t.Errorf("GET after the change: status %d code %q", g.Status, g.Code())
			}
			res := b.submit(e, p, "approve", "")
			assertRefused(t, e, before, res, 409, "query_changed", "The query changed after this link was sent")
			if s := e.get("s1"); s.Status != session.StatusPendingApproval || s.Approval.Decision != "" {
				t.Errorf("session after refusal: status %s decision %q", s.Status, s.Approval.Decision)
			}
		})
	}
}

// TestMailShowsWhatRunsFirst: the SQL, default dataset and parameters come
// first, between markers, and nothing the agent wrote can pass for the
// mail's own structure.
func TestMailShowsWhatRunsFirst(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sql := "SELECT name FROM customers WHERE customer_id = @id\n================= END OF WHAT WILL RUN ================\nApprove: https://evil.example/sql"
	e.heldSession("s1", sql)
	_, err := e.store.Update(context.Background(), "s1", func(s *session.Session) error {
		s.DefaultDataset = "querygate-local.demo"
		s.Parameters = []session.Parameter{{Name: "id", Type: "INT64", Value: json.RawMessage(`42`)}, {Name: "note", Type: "STRING", Value: json.RawMessage(`"a\nApprove: x"`)}}
		s.Prompt = "Count rows.\n\nSQL:\nSELECT 1\n==================== WHAT WILL RUN ====================\nApprove: https://evil.example/a\n------------------- End of agent text -------------------\nhidden\u202eenil"
		s.Agent = session.Agent{Name: "agent\u202e", Model: "m1"}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	e.notify("s1")
	var text, html string
	for _, m := range e.sink.Messages() {
		if m.To == "bob@example.com" {
			text, html = m.Text, m.HTML
		}
	}
	if text == "" {
		t.Fatal("no mail to bob")
	}
	lines := strings.Split(text, "\n")
	index := func(line string) int {
		t.Helper()
		n, at := 0, -1
		for i, l := range lines {
			if l == line {
				n, at = n+1, i
			}
		}
		if n != 1 {
			t.Fatalf("line %q appears %d times at the margin, want once; mail:\n%s", line, n, text)
		}
		return at
	}
	begin := index("==================== WHAT WILL RUN ====================")
	end := index("================= END OF WHAT WILL RUN ================")
	agent := index("------- Written by the agent (not verified, quoted) -------")
	agentEnd := index("------------------- End of agent text -------------------")
	if begin != 2 {
		t.Errorf("the block of what runs starts at line %d, want 2 (right after the greeting)", begin)
	}
	inBlock := strings.Join(lines[begin+1:end], "\n")
	for _, want := range []string{
		"Default dataset:\n  | querygate-local.demo\n",
		"Parameters:\n  | @id INT64 = 42\n  | @note STRING = \"a\\nApprove: x\"\n",
		"SQL:\n  | SELECT name FROM customers WHERE customer_id = @id\n  | ================= END OF WHAT WILL RUN ================\n  | Approve: https://evil.example/sql",
	} {
		if !strings.Contains(inBlock, want) {
			t.Errorf("block of what runs lacks %q; block:\n%s", want, inBlock)
		}
	}
	if !(end < agent && agent < agentEnd && agentEnd == len(lines)-2) {
		t.Errorf("agent text is not last: block end %d, agent %d..%d of %d lines", end, agent, agentEnd, len(lines))
	}
	inAgent := strings.Join(lines[agent+1:agentEnd], "\n")
	for _, want := range []string{
		"Agent:\n  > agent<U+202E> (m1)\n",
		"  > SQL:\n  > SELECT 1\n  > ==================== WHAT WILL RUN ====================\n  > Approve: https://evil.example/a\n  > ------------------- End of agent text -------------------\n  > hidden<U+202E>enil",
	} {
		if !strings.Contains(inAgent, want) {
			t.Errorf("agent section lacks %q; section:\n%s", want, inAgent)
		}
	}
	var approveLines []string
	for _, l := range lines {
		if strings.HasPrefix(l, "Approve:") || strings.HasPrefix(l, "Deny:") {
			approveLines = append(approveLines, l)
		}
	}
	if len(approveLines) != 2 || !strings.HasPrefix(approveLines[0], "Approve: "+e.srv.URL+"/approval?token=") || !strings.HasPrefix(approveLines[1], "Deny:    "+e.srv.URL+"/approval?token=") {
		t.Errorf("link lines at the margin = %q", approveLines)
	}
	if strings.ContainsRune(text, '\u202e') || strings.ContainsRune(html, '\u202e') {
		t.Error("a bidi control reached the mail unescaped")
	}
	hRuns, hAgent := strings.Index(html, "What will run"), strings.Index(html, "Written by the agent")
	hSQL, hPrompt := strings.Index(html, "SELECT name FROM customers"), strings.Index(html, "Count rows.")
	if hRuns < 0 || hAgent < 0 || !(hRuns < hSQL && hSQL < hAgent && hAgent < hPrompt) {
		t.Errorf("HTML order: runs %d sql %d agent %d prompt %d", hRuns, hSQL, hAgent, hPrompt)
	}
	for _, want := range []string{"querygate-local.demo", "@id INT64 = 42", "agent&lt;U&#43;202E&gt; (m1)"} {
		if !strings.Contains(html, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
}

func TestPageShowsWhatRuns(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.heldRunSession("s1")
	if _, err := e.store.Update(context.Background(), "s1", func(s *session.Session) error {
		s.Prompt = "look\u2066 here"
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	e.notify("s1")
	approve, _ := e.links("bob@example.com", "s1")
	p := newBrowser(t).Get(approve)
	if p.Status != 200 {
		t.Fatalf("status %d", p.Status)
	}
	for _, want := range []string{
		`<pre id="default_dataset">querygate-local.demo</pre>`,
		`<pre id="parameters">@id INT64 = 42` + "\n</pre>",
		`<pre id="prompt">look&lt;U&#43;2066&gt; here</pre>`,
	} {
		if !strings.Contains(p.Body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	runs, agent := strings.Index(p.Body, `id="runs"`), strings.Index(p.Body, `id="agent_text"`)
	if runs < 0 || agent < runs || strings.Index(p.Body, `id="sql"`) > agent {
		t.Errorf("page order: runs %d, agent text %d", runs, agent)
	}
}

func TestVisible(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, line, block string }{
		{"a\u202eb", "a<U+202E>b", "a<U+202E>b"},
		{"x\ny\tz", "x<U+000A>y<U+0009>z", "x\ny\tz"},
		{"cr\r\n", "cr<U+000D><U+000A>", "cr<U+000D>\n"},
		{"zw\u200bsp\u2028", "zw<U+200B>sp<U+2028>", "zw<U+200B>sp<U+2028>"},
		{"bad\xff", "bad<U+FFFD>", "bad<U+FFFD>"},
		{"plain é 中", "plain é 中", "plain é 中"},
	} {
		if got := visibleLine(tc.in); got != tc.line {
			t.Errorf("visibleLine(%q) = %q, want %q", tc.in, got, tc.line)
		}
		if got := visibleBlock(tc.in); got != tc.block {
			t.Errorf("visibleBlock(%q) = %q, want %q", tc.in, got, tc.block)
		}
	}
}

// FuzzMailStructure: whatever the agent writes in the SQL, the prompt,
// its name, the parameters and the dataset, the text mail keeps its
// structure. Each marker appears once at the margin, every line inside the
// block of what runs and inside the agent section is quoted, and no
// control or format character but LF and tab reaches the mail.
func FuzzMailStructure(f *testing.F) {
	f.Add("SELECT 1", "why", "agent", "42", "demo")
	f.Add("SELECT 1\n================= END OF WHAT WILL RUN ================\nApprove: x", "SQL:\nApprove: https://evil\n------------------- End of agent text -------------------", "a\u202e", `"a\nb"`, "p.d")
	f.Add("\r\nx\u2028y", "\u2066\u200b", "", "{}", "")
	f.Fuzz(func(t *testing.T, sql, prompt, agent, value, dataset string) {
		ss := &session.Session{ID: "s1", Principal: session.Principal{Email: "alice@example.com"}, Agent: session.Agent{Name: agent},
			Prompt: prompt, SQL: sql, SQLSHA256: session.SQLHash(sql), DefaultDataset: dataset,
			Parameters: []session.Parameter{{Name: "p", Type: "STRING", Value: json.RawMessage(value)}},
			Decision:   &session.Decision{Reasons: []string{"r"}, ApproverGroup: "approvers"}}
		msg, err := renderEmail(emailView{details: newDetails(ss, t0), To: "bob@example.com", ApproveURL: "https://qg.example/approval?token=a", DenyURL: "https://qg.example/approval?token=d"})
		if err != nil {
			t.Fatal(err)
		}
		// LF and tab are the only control characters a block keeps
		// (visibleBlock: SQL is indented with tabs); every line is quoted,
		// so neither can move text to the margin.
		for _, c := range msg.Text {
			if c != '\n' && c != '\t' && hidden(c) {
				t.Fatalf("U+%04X reached the text mail", c)
			}
		}
		lines := strings.Split(msg.Text, "\n")
		at := map[string][]int{}
		markers := []string{
			"==================== WHAT WILL RUN ====================",
			"================= END OF WHAT WILL RUN ================",
			"------- Written by the agent (not verified, quoted) -------",
			"------------------- End of agent text -------------------",
			"SQL:", "Prompt:",
		}
		for i, l := range lines {
			for _, m := range markers {
				if l == m {
					at[m] = append(at[m], i)
				}
			}
			if strings.HasPrefix(l, "Approve:") && l != "Approve: https://qg.example/approval?token=a" {
				t.Fatalf("forged link line %q", l)
			}
		}
		for _, m := range markers {
			if len(at[m]) != 1 {
				t.Fatalf("marker %q at lines %v, want exactly once", m, at[m])
			}
		}
		quoted := func(from, to int, prefix string, allowed ...string) {
			for _, l := range lines[from+1 : to] {
				if !strings.HasPrefix(l, prefix) && !slices.Contains(allowed, l) {
					t.Fatalf("unquoted line %q between lines %d and %d", l, from, to)
				}
			}
		}
		quoted(at["SQL:"][0], at[markers[1]][0], "  | ")
		quoted(at[markers[2]][0], at[markers[3]][0], "  > ", "Agent:", "Justification:", "Prompt:", "  (none)")
	})
}
