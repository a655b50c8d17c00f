package workflow

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Problem is one construct of a workflow file that the local runtime does not
// support, or that is malformed.
type Problem struct {
	Line      int
	Construct string
	Message   string
}

func (p Problem) String() string {
	return fmt.Sprintf("line %d: %s: %s", p.Line, p.Construct, p.Message)
}

// Workflow is a parsed workflow inside the supported subset. It is immutable
// and safe to share between runtimes.
type Workflow struct {
	filename string
	hash     string
	subs     map[string]*subworkflow
	blocks   []*block
}

// Hash identifies the source; a persisted execution only resumes on the
// workflow it started with.
func (w *Workflow) Hash() string { return w.hash }

type subworkflow struct {
	name   string
	line   int
	params []param
	body   int
}

type param struct {
	name       string
	def        *tmpl
	hasDefault bool
}

// block is one steps list. Frames refer to blocks by index, which is stable
// for a given source.
type block struct {
	id     int
	sub    string
	parent int // enclosing block, -1 for a subworkflow body
	inFor  bool
	// forBody marks the body of a for step: next cannot leave it.
	forBody bool
	steps   []*step
	byName  map[string]int
}

type stepKind int

const (
	kAssign stepKind = iota + 1
	kCall
	kSwitch
	kReturn
	kRaise
	kSteps
	kTry
	kFor
	kNextOnly
)

type assignment struct {
	target lvalue
	value  *tmpl
}

type lvalue struct {
	name string
	path []node // field names as literal strings or index expressions
}

type condition struct {
	line   int
	cond   *tmpl
	next   string
	steps  int // block id, -1 if none
	ret    *tmpl
	raise  *tmpl
	assign []assignment
}

type retryPolicy struct {
	line         int
	predicate    string // subworkflow name, or a builtin predicate name
	maxRetries   *tmpl
	initialDelay *tmpl
	maxDelay     *tmpl
	multiplier   *tmpl
}

type step struct {
	name  string
	line  int
	kind  stepKind
	block int
	index int
	next  string

	assign []assignment

	call   string
	args   map[string]*tmpl
	result string

	conds []condition

	value *tmpl // return / raise

	body     int // steps / try / for body block
	retry    *retryPolicy
	exceptAs string
	except   int // -1 if none
	// single marks a try holding one action: the action is the billed
	// step, not the try around it (ExecutionRecord.Steps).
	single bool

	forValue, forIndex string
	forIn              *tmpl
	forRange           [2]*tmpl
}

// tmpl is a YAML value in which whole-string "${...}" are expressions.
type tmpl struct {
	lit   any
	expr  node
	src   string
	mkeys []string
	mvals []*tmpl
	list  []*tmpl
	kind  int // 0 literal, 1 expr, 2 map, 3 list
}

// Call targets of the standard library that call steps may use, with the
// argument names each accepts and those it requires.
var callTargets = map[string]struct{ allowed, required []string }{
	"http.get":                        {[]string{"url", "headers", "query", "auth", "timeout"}, []string{"url"}},
	"http.delete":                     {[]string{"url", "headers", "query", "auth", "timeout", "body"}, []string{"url"}},
	"http.post":                       {[]string{"url", "headers", "query", "auth", "timeout", "body"}, []string{"url"}},
	"http.put":                        {[]string{"url", "headers", "query", "auth", "timeout", "body"}, []string{"url"}},
	"http.patch":                      {[]string{"url", "headers", "query", "auth", "timeout", "body"}, []string{"url"}},
	"http.request":                    {[]string{"method", "url", "headers", "query", "auth", "timeout", "body"}, []string{"method", "url"}},
	"sys.log":                         {[]string{"text", "json", "data", "severity"}, nil},
	"sys.sleep":                       {[]string{"seconds"}, []string{"seconds"}},
	"sys.now":                         {nil, nil},
	"sys.get_env":                     {[]string{"name", "default"}, []string{"name"}},
	"events.create_callback_endpoint": {[]string{"http_callback_method"}, nil},
	"events.await_callback":           {[]string{"callback", "timeout"}, []string{"callback"}},
}

// Builtin retry predicates and policies usable as ${...} references.
var builtinPredicates = map[string]bool{
	"http.default_retry_predicate":                true,
	"http.default_retry_predicate_non_idempotent": true,
}

var builtinPolicies = map[string]string{
	"http.default_retry":                "http.default_retry_predicate",
	"http.default_retry_non_idempotent": "http.default_retry_predicate_non_idempotent",
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// ErrUnsupported is wrapped by Load when the file is outside the subset.
var ErrUnsupported = errors.New("workflow outside the supported subset")

// Load parses YAML and rejects anything outside the supported subset,
// naming each construct and its line.
func Load(src []byte, filename string) (*Workflow, error) {
	w, probs := load(src, filename)
	if len(probs) > 0 {
		errs := make([]error, 0, len(probs)+1)
		errs = append(errs, fmt.Errorf("%s: %w", filename, ErrUnsupported))
		for _, p := range probs {
			errs = append(errs, fmt.Errorf("%s:%d: %s: %s", filename, p.Line, p.Construct, p.Message))
		}
		return nil, errors.Join(errs...)
	}
	return w, nil
}

// Validate returns every unsupported or malformed construct with its line;
// an empty result means the file runs on the local runtime.
func Validate(src []byte, filename string) []Problem {
	_, probs := load(src, filename)
	return probs
}

type loader struct {
	w     *Workflow
	probs []Problem
	// call sites to check once every subworkflow is known
	calls []*step
	preds []*retryPolicy
	nexts []nextRef
}

type nextRef struct {
	line   int
	target string
	block  int
}

func (l *loader) problem(line int, construct, format string, args ...any) {
	l.probs = append(l.probs, Problem{Line: line, Construct: construct, Message: fmt.Sprintf(format, args...)})
}

func load(src []byte, filename string) (*Workflow, []Problem) {
	sum := sha256.Sum256(src)
	l := &loader{w: &Workflow{filename: filename, hash: hex.EncodeToString(sum[:]), subs: map[string]*subworkflow{}}}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		l.problem(line, "yaml", "%v", err)
		return nil, l.probs
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		l.problem(1, "yaml", "empty workflow")
		return nil, l.probs
	}
	root := doc.Content[0]
	if hasAlias(root) {
		l.problem(root.Line, "yaml alias", "YAML anchors and aliases are not supported; repeat the value")
	}
	switch root.Kind {
	case yaml.SequenceNode:
		// A plain list of steps is the main workflow.
		l.w.subs["main"] = &subworkflow{name: "main", line: root.Line, body: -1}
		l.w.subs["main"].body = l.steps(root, "main", -1, false)
	case yaml.MappingNode:
		for i := 0; i+1 < len(root.Content); i += 2 {
			k := root.Content[i]
			if _, dup := l.w.subs[k.Value]; dup {
				l.problem(k.Line, "subworkflow", "%q defined twice", k.Value)
				continue
			}
			l.w.subs[k.Value] = &subworkflow{name: k.Value, line: k.Line, body: -1}
		}
		for i := 0; i+1 < len(root.Content); i += 2 {
			l.subworkflow(root.Content[i], root.Content[i+1])
		}
		if _, ok := l.w.subs["main"]; !ok {
			l.problem(root.Line, "main", "the workflow has no main")
		}
	default:
		l.problem(root.Line, "yaml", "a workflow is a map of subworkflows or a list of steps")
		return nil, l.probs
	}
	l.checkCalls()
	sort.SliceStable(l.probs, func(i, j int) bool { return l.probs[i].Line < l.probs[j].Line })
	if len(l.probs) > 0 {
		return nil, l.probs
	}
	return l.w, nil
}

func hasAlias(n *yaml.Node) bool {
	if n.Kind == yaml.AliasNode {
		return true
	}
	for _, c := range n.Content {
		if hasAlias(c) {
			return true
		}
	}
	return false
}

func (l *loader) subworkflow(k, v *yaml.Node) {
	sw := l.w.subs[k.Value]
	if sw.body >= 0 {
		return
	}
	if !validName(k.Value) {
		l.problem(k.Line, "subworkflow", "invalid name %q", k.Value)
	}
	if v.Kind != yaml.MappingNode {
		l.problem(v.Line, "subworkflow", "%s must be a map with params and steps", k.Value)
		return
	}
	var stepsNode *yaml.Node
	for i := 0; i+1 < len(v.Content); i += 2 {
		key, val := v.Content[i], v.Content[i+1]
		switch key.Value {
		case "params":
			if val.Kind != yaml.SequenceNode {
				l.problem(val.Line, "params", "params must be a list")
				continue
			}
			for _, p := range val.Content {
				switch p.Kind {
				case yaml.ScalarNode:
					sw.params = append(sw.params, param{name: p.Value})
				case yaml.MappingNode:
					if len(p.Content) != 2 {
						l.problem(p.Line, "params", "a parameter with a default is a one-key map")
						continue
					}
					sw.params = append(sw.params, param{name: p.Content[0].Value, def: l.tmpl(p.Content[1]), hasDefault: true})
				default:
					l.problem(p.Line, "params", "bad parameter")
				}
			}
		case "steps":
			stepsNode = val
		default:
			l.problem(key.Line, key.Value, "not supported in a subworkflow definition")
		}
	}
	if k.Value == "main" && len(sw.params) > 1 {
		l.problem(v.Line, "params", "main takes at most one parameter (the execution argument)")
	}
	if stepsNode == nil {
		l.problem(v.Line, "steps", "subworkflow %s has no steps", k.Value)
		return
	}
	sw.body = l.steps(stepsNode, k.Value, -1, false)
}

func validName(s string) bool {
	if s == "" || !isIdentStart(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isIdentStart(c) && !(c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// steps compiles a steps list into a new block and returns its id.
func (l *loader) steps(n *yaml.Node, sub string, parent int, inFor bool) int {
	b := &block{id: len(l.w.blocks), sub: sub, parent: parent, inFor: inFor, byName: map[string]int{}}
	l.w.blocks = append(l.w.blocks, b)
	if n.Kind != yaml.SequenceNode {
		l.problem(n.Line, "steps", "steps must be a list")
		return b.id
	}
	if len(n.Content) == 0 {
		l.problem(n.Line, "steps", "steps list is empty")
	}
	for _, sn := range n.Content {
		if sn.Kind != yaml.MappingNode || len(sn.Content) != 2 {
			l.problem(sn.Line, "step", "each step is a map with exactly one key, the step name")
			continue
		}
		name := sn.Content[0].Value
		if _, dup := b.byName[name]; dup {
			l.problem(sn.Line, "step", "step name %q used twice in the same list", name)
		}
		if name == "end" || name == "break" || name == "continue" {
			l.problem(sn.Line, "step", "%q is reserved for next", name)
		}
		st := &step{name: name, line: sn.Content[0].Line, block: b.id, index: len(b.steps), except: -1, body: -1}
		b.byName[name] = st.index
		b.steps = append(b.steps, st)
		l.step(st, sn.Content[1], sub, inFor)
	}
	return b.id
}

var stepAttrs = map[string]bool{
	"assign": true, "call": true, "args": true, "result": true, "switch": true, "next": true,
	"return": true, "raise": true, "steps": true, "try": true, "retry": true, "except": true, "for": true,
}

func (l *loader) step(st *step, n *yaml.Node, sub string, inFor bool) {
	if n.Kind != yaml.MappingNode {
		l.problem(n.Line, "step", "step %s must be a map", st.name)
		return
	}
	attrs := map[string]*yaml.Node{}
	unsupported := false
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		if !stepAttrs[k.Value] {
			l.problem(k.Line, k.Value, "not supported by the local runtime (step %s)", st.name)
			unsupported = true
			continue
		}
		attrs[k.Value] = n.Content[i+1]
	}
	kinds := []string{}
	for _, k := range []string{"assign", "call", "switch", "return", "raise", "steps", "try", "for"} {
		if attrs[k] != nil {
			kinds = append(kinds, k)
		}
	}
	if len(kinds) > 1 {
		l.problem(n.Line, strings.Join(kinds, "+"), "step %s combines actions that must be separate steps", st.name)
		return
	}
	allow := func(keys ...string) {
		ok := map[string]bool{}
		for _, k := range keys {
			ok[k] = true
		}
		for k, v := range attrs {
			if !ok[k] {
				l.problem(v.Line, k, "not allowed in this kind of step (step %s)", st.name)
			}
		}
	}
	if nx := attrs["next"]; nx != nil {
		st.next = nx.Value
		l.nexts = append(l.nexts, nextRef{nx.Line, nx.Value, st.block})
		if (nx.Value == "break" || nx.Value == "continue") && !inFor {
			l.problem(nx.Line, "next", "%s outside a for loop", nx.Value)
		}
	}
	kind := "next"
	if len(kinds) == 1 {
		kind = kinds[0]
	}
	switch kind {
	case "assign":
		st.kind = kAssign
		allow("assign", "next")
		st.assign = l.assignments(attrs["assign"])
	case "call":
		st.kind = kCall
		allow("call", "args", "result", "next")
		l.callStep(st, attrs)
	case "switch":
		st.kind = kSwitch
		allow("switch", "next")
		l.switchStep(st, attrs["switch"], sub, inFor)
	case "return":
		st.kind = kReturn
		allow("return")
		st.value = l.tmpl(attrs["return"])
	case "raise":
		st.kind = kRaise
		allow("raise")
		st.value = l.tmpl(attrs["raise"])
	case "steps":
		st.kind = kSteps
		allow("steps", "next")
		st.body = l.steps(attrs["steps"], sub, st.block, inFor)
	case "try":
		st.kind = kTry
		allow("try", "retry", "except", "next")
		l.tryStep(st, attrs, sub, inFor)
	case "for":
		st.kind = kFor
		allow("for", "next")
		l.forStep(st, attrs["for"], sub)
	default:
		if attrs["next"] == nil && !unsupported {
			l.problem(n.Line, "step", "step %s does nothing", st.name)
		}
		st.kind = kNextOnly
		allow("next")
	}
}

func (l *loader) assignments(n *yaml.Node) []assignment {
	if n.Kind != yaml.SequenceNode {
		l.problem(n.Line, "assign", "assign must be a list of one-key maps")
		return nil
	}
	var out []assignment
	for _, a := range n.Content {
		if a.Kind != yaml.MappingNode || len(a.Content) != 2 {
			l.problem(a.Line, "assign", "each assignment is a one-key map")
			continue
		}
		lv, err := parseLValue(a.Content[0].Value)
		if err != nil {
			l.problem(a.Line, "assign", "target %q: %v", a.Content[0].Value, err)
			continue
		}
		out = append(out, assignment{target: lv, value: l.tmpl(a.Content[1])})
	}
	if len(out) > 50 {
		l.problem(n.Line, "assign", "more than 50 assignments in one step (documented limit)")
	}
	return out
}

// parseLValue accepts name, name.field, name["key"] and name[expr] chains.
func parseLValue(s string) (lvalue, error) {
	n, err := parseExpr(s)
	if err != nil {
		return lvalue{}, err
	}
	var path []node
	for {
		switch x := n.(type) {
		case *identNode:
			for i, j := 0, len(path)-1; i < j; i, j = i+1, j-1 {
				path[i], path[j] = path[j], path[i]
			}
			return lvalue{name: x.name, path: path}, nil
		case *fieldNode:
			path = append(path, &litNode{x.p, x.name})
			n = x.x
		case *indexNode:
			path = append(path, x.idx)
			n = x.x
		default:
			return lvalue{}, fmt.Errorf("not an assignable name")
		}
	}
}

func (l *loader) callStep(st *step, attrs map[string]*yaml.Node) {
	c := attrs["call"]
	st.call = c.Value
	if r := attrs["result"]; r != nil {
		if !validName(r.Value) {
			l.problem(r.Line, "result", "result must be a variable name")
		}
		st.result = r.Value
	}
	st.args = map[string]*tmpl{}
	if a := attrs["args"]; a != nil {
		if a.Kind != yaml.MappingNode {
			l.problem(a.Line, "args", "args must be a map")
		} else {
			for i := 0; i+1 < len(a.Content); i += 2 {
				st.args[a.Content[i].Value] = l.tmpl(a.Content[i+1])
			}
		}
	}
	l.calls = append(l.calls, st)
}

func (l *loader) switchStep(st *step, n *yaml.Node, sub string, inFor bool) {
	if n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		l.problem(n.Line, "switch", "switch must be a non-empty list of conditions")
		return
	}
	if len(n.Content) > 50 {
		l.problem(n.Line, "switch", "more than 50 conditions (documented limit)")
	}
	for _, cn := range n.Content {
		c := condition{line: cn.Line, steps: -1}
		if cn.Kind != yaml.MappingNode {
			l.problem(cn.Line, "switch", "each condition is a map")
			continue
		}
		actions := 0
		for i := 0; i+1 < len(cn.Content); i += 2 {
			k, v := cn.Content[i], cn.Content[i+1]
			switch k.Value {
			case "condition":
				c.cond = l.tmpl(v)
			case "next":
				c.next = v.Value
				l.nexts = append(l.nexts, nextRef{v.Line, v.Value, st.block})
				if (v.Value == "break" || v.Value == "continue") && !inFor {
					l.problem(v.Line, "next", "%s outside a for loop", v.Value)
				}
			case "steps":
				actions++
				c.steps = l.steps(v, sub, st.block, inFor)
			case "return":
				actions++
				c.ret = l.tmpl(v)
			case "raise":
				actions++
				c.raise = l.tmpl(v)
			case "assign":
				actions++
				c.assign = l.assignments(v)
			default:
				l.problem(k.Line, k.Value, "not supported inside a switch condition")
			}
		}
		if c.cond == nil {
			l.problem(cn.Line, "switch", "condition missing")
		}
		if actions > 1 {
			l.problem(cn.Line, "switch", "a condition takes one of steps, assign, return, raise")
		}
		if actions == 0 && c.next == "" {
			l.problem(cn.Line, "switch", "a condition needs next, steps, assign, return or raise")
		}
		if (c.ret != nil || c.raise != nil || c.steps >= 0) && c.next != "" {
			l.problem(cn.Line, "switch", "next cannot be combined with steps, return or raise in one condition")
		}
		st.conds = append(st.conds, c)
	}
}

func (l *loader) tryStep(st *step, attrs map[string]*yaml.Node, sub string, inFor bool) {
	t := attrs["try"]
	if t.Kind != yaml.MappingNode {
		l.problem(t.Line, "try", "try must be a map with steps or a call")
		return
	}
	var stepsNode *yaml.Node
	single := map[string]*yaml.Node{}
	for i := 0; i+1 < len(t.Content); i += 2 {
		k, v := t.Content[i], t.Content[i+1]
		switch k.Value {
		case "steps":
			stepsNode = v
		case "call", "args", "result", "assign", "return", "raise":
			single[k.Value] = v
		default:
			l.problem(k.Line, k.Value, "not supported inside try")
		}
	}
	switch {
	case stepsNode != nil && len(single) > 0:
		l.problem(t.Line, "try", "try takes steps or a single action, not both")
	case stepsNode != nil:
		st.body = l.steps(stepsNode, sub, st.block, inFor)
	case len(single) > 0:
		// A try holding one action is a one-step block named after the step.
		b := &block{id: len(l.w.blocks), sub: sub, parent: st.block, inFor: inFor, byName: map[string]int{}}
		l.w.blocks = append(l.w.blocks, b)
		inner := &step{name: st.name, line: t.Line, block: b.id, index: 0, except: -1, body: -1}
		b.steps = []*step{inner}
		b.byName[st.name] = 0
		l.step(inner, t, sub, inFor)
		st.body = b.id
		st.single = true
	default:
		l.problem(t.Line, "try", "try needs steps or a call")
	}
	if r := attrs["retry"]; r != nil {
		st.retry = l.retry(r)
	}
	if e := attrs["except"]; e != nil {
		if e.Kind != yaml.MappingNode {
			l.problem(e.Line, "except", "except must be a map with as and steps")
			return
		}
		var body *yaml.Node
		for i := 0; i+1 < len(e.Content); i += 2 {
			k, v := e.Content[i], e.Content[i+1]
			switch k.Value {
			case "as":
				if !validName(v.Value) {
					l.problem(v.Line, "as", "as must be a variable name")
				}
				st.exceptAs = v.Value
			case "steps":
				body = v
			default:
				l.problem(k.Line, k.Value, "not supported inside except")
			}
		}
		if body == nil {
			l.problem(e.Line, "except", "except needs steps")
			return
		}
		st.except = l.steps(body, sub, st.block, inFor)
	}
	if st.retry == nil && st.except < 0 {
		l.problem(t.Line, "try", "try needs retry or except")
	}
}

func (l *loader) retry(n *yaml.Node) *retryPolicy {
	rp := &retryPolicy{line: n.Line}
	if n.Kind == yaml.ScalarNode {
		name, ok := refName(n.Value)
		pred, known := builtinPolicies[name]
		if !ok || !known {
			l.problem(n.Line, "retry", "retry is a map or one of ${http.default_retry}, ${http.default_retry_non_idempotent}")
			return nil
		}
		rp.predicate = pred
		return rp
	}
	if n.Kind != yaml.MappingNode {
		l.problem(n.Line, "retry", "retry must be a map")
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "predicate":
			name, ok := refName(v.Value)
			if !ok {
				l.problem(v.Line, "predicate", "predicate must be ${subworkflow} or ${http.default_retry_predicate}")
				continue
			}
			rp.predicate = name
			rp.line = v.Line
			l.preds = append(l.preds, rp)
		case "max_retries":
			rp.maxRetries = l.tmpl(v)
		case "backoff":
			if v.Kind != yaml.MappingNode {
				l.problem(v.Line, "backoff", "backoff must be a map")
				continue
			}
			for j := 0; j+1 < len(v.Content); j += 2 {
				bk, bv := v.Content[j], v.Content[j+1]
				switch bk.Value {
				case "initial_delay":
					rp.initialDelay = l.tmpl(bv)
				case "max_delay":
					rp.maxDelay = l.tmpl(bv)
				case "multiplier":
					rp.multiplier = l.tmpl(bv)
				default:
					l.problem(bk.Line, bk.Value, "not supported in backoff")
				}
			}
		default:
			l.problem(k.Line, k.Value, "not supported in retry")
		}
	}
	if rp.predicate == "" {
		l.problem(n.Line, "retry", "retry needs a predicate")
	}
	if rp.maxRetries == nil || rp.initialDelay == nil || rp.maxDelay == nil || rp.multiplier == nil {
		l.problem(n.Line, "retry", "a custom retry needs max_retries and backoff with initial_delay, max_delay and multiplier")
	}
	return rp
}

// refName returns "a.b" for "${a.b}".
func refName(s string) (string, bool) {
	if !strings.HasPrefix(s, "${") || !strings.HasSuffix(s, "}") {
		return "", false
	}
	n, err := parseExpr(s[2 : len(s)-1])
	if err != nil {
		return "", false
	}
	return dottedName(n)
}

func (l *loader) forStep(st *step, n *yaml.Node, sub string) {
	if n.Kind != yaml.MappingNode {
		l.problem(n.Line, "for", "for must be a map")
		return
	}
	var body *yaml.Node
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch k.Value {
		case "value":
			st.forValue = v.Value
		case "index":
			st.forIndex = v.Value
		case "in":
			st.forIn = l.tmpl(v)
		case "range":
			if v.Kind != yaml.SequenceNode || len(v.Content) != 2 {
				l.problem(v.Line, "range", "range is a list of two numbers")
				continue
			}
			st.forRange = [2]*tmpl{l.tmpl(v.Content[0]), l.tmpl(v.Content[1])}
		case "steps":
			body = v
		default:
			l.problem(k.Line, k.Value, "not supported in for")
		}
	}
	if !validName(st.forValue) {
		l.problem(n.Line, "for", "for needs value: a variable name")
	}
	if st.forIndex != "" && !validName(st.forIndex) {
		l.problem(n.Line, "for", "index must be a variable name")
	}
	if (st.forIn == nil) == (st.forRange[0] == nil) {
		l.problem(n.Line, "for", "for needs exactly one of in and range")
	}
	if st.forRange[0] != nil && st.forIndex != "" {
		l.problem(n.Line, "for", "index cannot be used with range")
	}
	if body == nil {
		l.problem(n.Line, "for", "for needs steps")
		return
	}
	st.body = l.steps(body, sub, st.block, true)
	l.w.blocks[st.body].forBody = true
}

func (l *loader) tmpl(n *yaml.Node) *tmpl {
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Tag == "!!str" || n.Tag == "" {
			s := n.Value
			if strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") {
				e, err := parseExpr(s[2 : len(s)-1])
				if err != nil {
					l.problem(n.Line, "expression", "%s: %v", s, err)
					return &tmpl{kind: 0}
				}
				return &tmpl{kind: 1, expr: e, src: s}
			}
			if strings.Contains(s, "${") {
				l.problem(n.Line, "expression", "%q: an expression must be the whole value; build strings with +", s)
			}
			return &tmpl{kind: 0, lit: s}
		}
		var v any
		if err := n.Decode(&v); err != nil {
			l.problem(n.Line, "value", "%v", err)
			return &tmpl{}
		}
		switch x := v.(type) {
		case int:
			v = int64(x)
		case uint64:
			l.problem(n.Line, "value", "integer %s out of range", n.Value)
			v = nil
		}
		return &tmpl{kind: 0, lit: v}
	case yaml.MappingNode:
		t := &tmpl{kind: 2}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if strings.Contains(k.Value, "${") {
				l.problem(k.Line, "expression", "expressions as map keys are not supported")
			}
			t.mkeys = append(t.mkeys, k.Value)
			t.mvals = append(t.mvals, l.tmpl(n.Content[i+1]))
		}
		return t
	case yaml.SequenceNode:
		t := &tmpl{kind: 3}
		for _, c := range n.Content {
			t.list = append(t.list, l.tmpl(c))
		}
		return t
	case yaml.AliasNode:
		return &tmpl{}
	}
	l.problem(n.Line, "value", "unsupported YAML node")
	return &tmpl{}
}

func (t *tmpl) eval(ev *evalEnv) (any, error) {
	switch t.kind {
	case 1:
		v, err := ev.eval(t.expr)
		if err != nil {
			return nil, err
		}
		return deepCopy(v), nil
	case 2:
		m := make(map[string]any, len(t.mkeys))
		for i, k := range t.mkeys {
			v, err := t.mvals[i].eval(ev)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	case 3:
		out := make([]any, len(t.list))
		for i, e := range t.list {
			v, err := e.eval(ev)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	return deepCopy(t.lit), nil
}

// checkCalls runs once every subworkflow is known.
func (l *loader) checkCalls() {
	for _, st := range l.calls {
		if spec, ok := callTargets[st.call]; ok {
			allowed := map[string]bool{}
			for _, a := range spec.allowed {
				allowed[a] = true
			}
			for a := range st.args {
				if !allowed[a] {
					l.problem(st.line, "call "+st.call, "argument %q not supported", a)
				}
			}
			for _, r := range spec.required {
				if st.args[r] == nil {
					l.problem(st.line, "call "+st.call, "argument %q is required", r)
				}
			}
			if auth := st.args["auth"]; auth != nil {
				l.checkAuth(st, auth)
			}
			continue
		}
		sw, ok := l.w.subs[st.call]
		if !ok {
			l.problem(st.line, "call "+st.call, "not a supported standard library call nor a subworkflow of this file")
			continue
		}
		params := map[string]param{}
		for _, p := range sw.params {
			params[p.name] = p
		}
		for a := range st.args {
			if _, ok := params[a]; !ok {
				l.problem(st.line, "call "+st.call, "subworkflow has no parameter %q", a)
			}
		}
		for _, p := range sw.params {
			if !p.hasDefault && st.args[p.name] == nil {
				l.problem(st.line, "call "+st.call, "parameter %q is required", p.name)
			}
		}
	}
	for _, rp := range l.preds {
		if builtinPredicates[rp.predicate] {
			continue
		}
		sw, ok := l.w.subs[rp.predicate]
		if !ok {
			l.problem(rp.line, "predicate", "%s is neither a subworkflow nor a builtin predicate", rp.predicate)
			continue
		}
		if len(sw.params) != 1 {
			l.problem(rp.line, "predicate", "predicate subworkflow %s must take exactly one parameter", rp.predicate)
		}
	}
	for _, nr := range l.nexts {
		switch nr.target {
		case "end", "break", "continue":
			continue
		}
		if !l.reachable(nr.block, nr.target) {
			l.problem(nr.line, "next", "no step %q in this steps list or an enclosing one of the same subworkflow (jumps into nested steps or out of a for loop are not supported)", nr.target)
		}
	}
}

func (l *loader) checkAuth(st *step, auth *tmpl) {
	if auth.kind != 2 {
		l.problem(st.line, "auth", "auth must be a map with type OIDC")
		return
	}
	for i, k := range auth.mkeys {
		switch k {
		case "type":
			v := auth.mvals[i]
			if v.kind != 0 || v.lit != "OIDC" {
				l.problem(st.line, "auth", "only type: OIDC is supported by the local runtime")
			}
		case "audience":
		default:
			l.problem(st.line, "auth", "auth field %q not supported", k)
		}
	}
}

// reachable reports whether target is in block b or a block enclosing it,
// without leaving a for loop body.
func (l *loader) reachable(b int, target string) bool {
	for b >= 0 {
		blk := l.w.blocks[b]
		if _, ok := blk.byName[target]; ok {
			return true
		}
		if blk.parent < 0 || blk.forBody {
			return false
		}
		b = blk.parent
	}
	return false
}
