package workflow

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sort"
	"time"
)

// The interpreter is an explicit stack machine so that an execution can be
// persisted after every step and resumed in another process: the whole
// state is the frame stack below, serialized as JSON. A step that was
// interrupted (process stopped mid-HTTP-call) is executed again on resume,
// which is why every function the flow calls is idempotent per step.

const (
	fBlock  = "block"  // a steps list; PC is the next step to run
	fCall   = "call"   // a subworkflow call; holds the variables
	fTry    = "try"    // a try step whose body runs above it
	fExcept = "except" // an except body runs above it
	fFor    = "for"    // a for loop whose body runs above it
)

const (
	phaseBody     = "body"
	phaseDeciding = "deciding" // a predicate subworkflow runs above it
	phaseBackoff  = "backoff"  // waiting until WakeAt before the next attempt
)

type frame struct {
	Kind  string `json:"k"`
	Block int    `json:"b,omitempty"`
	PC    int    `json:"pc,omitempty"`
	// Next is applied when the frame completes normally.
	Next string `json:"next,omitempty"`

	// call
	Sub       string         `json:"sub,omitempty"`
	Vars      map[string]any `json:"vars,omitempty"`
	Result    string         `json:"result,omitempty"`
	Predicate bool           `json:"pred,omitempty"`

	// try and for: the step that pushed the frame
	SB int `json:"sb,omitempty"`
	SI int `json:"si,omitempty"`

	// try
	Retries int    `json:"retries,omitempty"`
	Phase   string `json:"phase,omitempty"`
	Err     any    `json:"err,omitempty"`
	WakeAt  int64  `json:"wake_at,omitempty"` // unix nanoseconds

	// for
	Items []any    `json:"items,omitempty"`
	I     int      `json:"i,omitempty"`
	Outer []string `json:"outer,omitempty"`
}

type machine struct {
	Frames []*frame `json:"frames"`
}

func decodeMachine(b []byte) ([]*frame, error) {
	var m machine
	if len(b) == 0 {
		return nil, nil
	}
	v, err := decodeJSON(b)
	if err != nil {
		return nil, err
	}
	// Round-trip through the normalized value so numbers keep int64/float64.
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytesReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	for _, f := range m.Frames {
		if f.Kind == fCall && f.Vars == nil {
			f.Vars = map[string]any{}
		}
		f.Vars = normalizeMap(f.Vars)
		for i := range f.Items {
			f.Items[i] = normalize(f.Items[i])
		}
		f.Err = normalize(f.Err)
	}
	return m.Frames, nil
}

func normalizeMap(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	return normalize(m).(map[string]any)
}

type actKind int

const (
	aNone     actKind = iota // done; apply the step's next
	aContinue                // done; ignore the step's next
	aRaise
	aReturn
	aPush
	aJump
)

type action struct {
	kind   actKind
	val    any
	push   []*frame
	target string
}

func raiseAct(err error) (action, error) {
	if re, ok := err.(*RaisedError); ok {
		return action{kind: aRaise, val: re.Value}, nil
	}
	return action{}, err
}

func (x *execution) top() *frame { return x.frames[len(x.frames)-1] }
func (x *execution) pop() *frame {
	f := x.frames[len(x.frames)-1]
	x.frames = x.frames[:len(x.frames)-1]
	return f
}

func (x *execution) vars() map[string]any {
	for i := len(x.frames) - 1; i >= 0; i-- {
		if x.frames[i].Kind == fCall {
			return x.frames[i].Vars
		}
	}
	return map[string]any{}
}

func (x *execution) env() *evalEnv {
	return &evalEnv{vars: x.vars(), env: x.rt.opts.Env, now: x.rt.now}
}

func (x *execution) stepAt(b, i int) *step { return x.rt.wf.blocks[b].steps[i] }

// stepOnce advances the machine by one unit of work. It returns a non-nil
// error only for infrastructure problems (the context was cancelled); errors
// of the workflow itself travel as raises inside the machine.
func (x *execution) stepOnce(ctx context.Context) error {
	f := x.top()
	switch f.Kind {
	case fBlock:
		blk := x.rt.wf.blocks[f.Block]
		if f.PC >= len(blk.steps) {
			x.pop()
			if f.Next != "" {
				x.jump(f.Next)
			}
			return nil
		}
		st := blk.steps[f.PC]
		x.cur = st.name
		if !st.single {
			x.rec.Steps++
		}
		act, err := x.exec(ctx, st)
		if err != nil {
			return err
		}
		f.PC++
		x.apply(st, act)
	case fTry:
		if f.Phase == phaseBackoff {
			if d := time.Unix(0, f.WakeAt).Sub(x.rt.now()); d > 0 {
				if err := x.rt.sleep(ctx, d); err != nil {
					return err
				}
			}
			f.Phase = phaseBody
			f.WakeAt = 0
			x.frames = append(x.frames, &frame{Kind: fBlock, Block: x.stepAt(f.SB, f.SI).body})
			return nil
		}
		// The body finished normally.
		x.pop()
		if f.Next != "" {
			x.jump(f.Next)
		}
	case fExcept:
		x.pop()
		if f.Next != "" {
			x.jump(f.Next)
		}
	case fFor:
		f.I++
		if f.I < len(f.Items) {
			x.setLoopVars(f)
			x.frames = append(x.frames, &frame{Kind: fBlock, Block: x.stepAt(f.SB, f.SI).body})
			return nil
		}
		x.cleanupFor(f)
		x.pop()
		if f.Next != "" {
			x.jump(f.Next)
		}
	case fCall:
		// The body ended without return: the subworkflow returns null.
		x.doReturn(nil)
	default:
		x.raise(raiseTag("SystemError", "corrupt execution state: frame %q", f.Kind).Value)
	}
	return nil
}

func (x *execution) apply(st *step, act action) {
	switch act.kind {
	case aNone:
		if st.next != "" {
			x.jump(st.next)
		}
	case aContinue:
	case aRaise:
		x.raise(act.val)
	case aReturn:
		x.doReturn(act.val)
	case aPush:
		x.frames = append(x.frames, act.push...)
	case aJump:
		x.jump(act.target)
	}
}

// exec runs one step. It does not touch the frame stack; apply does.
func (x *execution) exec(ctx context.Context, st *step) (action, error) {
	ev := x.env()
	switch st.kind {
	case kAssign:
		if err := x.assign(ev, st.assign); err != nil {
			return raiseAct(err)
		}
		return action{kind: aNone}, nil
	case kNextOnly:
		return action{kind: aNone}, nil
	case kReturn:
		v, err := st.value.eval(ev)
		if err != nil {
			return raiseAct(err)
		}
		return action{kind: aReturn, val: v}, nil
	case kRaise:
		v, err := st.value.eval(ev)
		if err != nil {
			return raiseAct(err)
		}
		return action{kind: aRaise, val: v}, nil
	case kSteps:
		return action{kind: aPush, push: []*frame{{Kind: fBlock, Block: st.body, Next: st.next}}}, nil
	case kTry:
		return action{kind: aPush, push: []*frame{
			{Kind: fTry, SB: st.block, SI: st.index, Phase: phaseBody, Next: st.next},
			{Kind: fBlock, Block: st.body},
		}}, nil
	case kFor:
		return x.execFor(ev, st)
	case kSwitch:
		return x.execSwitch(ev, st)
	case kCall:
		args := make(map[string]any, len(st.args))
		for k, t := range st.args {
			v, err := t.eval(ev)
			if err != nil {
				return raiseAct(err)
			}
			args[k] = v
		}
		if sw, ok := x.rt.wf.subs[st.call]; ok {
			vars := map[string]any{}
			for _, p := range sw.params {
				if v, ok := args[p.name]; ok {
					vars[p.name] = v
					continue
				}
				d, err := p.def.eval(&evalEnv{vars: map[string]any{}, env: x.rt.opts.Env, now: x.rt.now})
				if err != nil {
					return raiseAct(err)
				}
				vars[p.name] = d
			}
			return action{kind: aPush, push: []*frame{
				{Kind: fCall, Sub: sw.name, Vars: vars, Result: st.result, Next: st.next},
				{Kind: fBlock, Block: sw.body},
			}}, nil
		}
		if effectful(st.call) {
			x.effect = true
		}
		v, err := x.callBuiltin(ctx, st, args)
		if err != nil {
			return raiseAct(err)
		}
		if st.result != "" {
			ev.vars[st.result] = v
		}
		return action{kind: aNone}, nil
	}
	return action{kind: aRaise, val: raiseTag("SystemError", "unknown step kind").Value}, nil
}

// effectful reports whether a standard library call reaches outside the
// execution, so that the state must be saved after it. Reading the
// environment and the clock, and writing a log line (a replay repeats the
// line, nothing else), do not.
func effectful(call string) bool {
	switch call {
	case "sys.get_env", "sys.now", "sys.log":
		return false
	}
	return true
}

func (x *execution) execSwitch(ev *evalEnv, st *step) (action, error) {
	for _, c := range st.conds {
		v, err := c.cond.eval(ev)
		if err != nil {
			return raiseAct(err)
		}
		b, ok := v.(bool)
		if !ok {
			return action{kind: aRaise, val: raiseTag("TypeError", "switch condition is %s, want boolean", typeName(v)).Value}, nil
		}
		if !b {
			continue
		}
		switch {
		case c.steps >= 0:
			return action{kind: aPush, push: []*frame{{Kind: fBlock, Block: c.steps}}}, nil
		case c.ret != nil:
			r, err := c.ret.eval(ev)
			if err != nil {
				return raiseAct(err)
			}
			return action{kind: aReturn, val: r}, nil
		case c.raise != nil:
			r, err := c.raise.eval(ev)
			if err != nil {
				return raiseAct(err)
			}
			return action{kind: aRaise, val: r}, nil
		case c.assign != nil:
			if err := x.assign(ev, c.assign); err != nil {
				return raiseAct(err)
			}
			if c.next != "" {
				return action{kind: aJump, target: c.next}, nil
			}
			return action{kind: aContinue}, nil
		}
		return action{kind: aJump, target: c.next}, nil
	}
	if st.next != "" {
		return action{kind: aJump, target: st.next}, nil
	}
	return action{kind: aContinue}, nil
}

// maxRangeItems bounds for/range so a bad range cannot exhaust memory.
const maxRangeItems = 100000

func (x *execution) execFor(ev *evalEnv, st *step) (action, error) {
	var items []any
	if st.forIn != nil {
		v, err := st.forIn.eval(ev)
		if err != nil {
			return raiseAct(err)
		}
		l, ok := v.([]any)
		if !ok {
			return action{kind: aRaise, val: raiseTag("TypeError", "for: in is %s, want list", typeName(v)).Value}, nil
		}
		items = l
	} else {
		a, err := st.forRange[0].eval(ev)
		if err != nil {
			return raiseAct(err)
		}
		b, err := st.forRange[1].eval(ev)
		if err != nil {
			return raiseAct(err)
		}
		ai, ok1 := a.(int64)
		bi, ok2 := b.(int64)
		if !ok1 || !ok2 {
			return action{kind: aRaise, val: raiseTag("TypeError", "for: range bounds must be integers").Value}, nil
		}
		if bi-ai >= maxRangeItems {
			return action{kind: aRaise, val: raiseTag("ValueError", "for: range longer than %d", maxRangeItems).Value}, nil
		}
		for i := ai; i <= bi; i++ {
			items = append(items, i)
		}
	}
	if len(items) == 0 {
		return action{kind: aNone}, nil
	}
	outer := make([]string, 0, len(ev.vars))
	for k := range ev.vars {
		outer = append(outer, k)
	}
	sort.Strings(outer)
	f := &frame{Kind: fFor, SB: st.block, SI: st.index, Items: items, Outer: outer, Next: st.next}
	ev.vars[st.forValue] = deepCopy(items[0])
	if st.forIndex != "" {
		ev.vars[st.forIndex] = int64(0)
	}
	return action{kind: aPush, push: []*frame{f, {Kind: fBlock, Block: st.body}}}, nil
}

func (x *execution) setLoopVars(f *frame) {
	st := x.stepAt(f.SB, f.SI)
	v := x.vars()
	v[st.forValue] = deepCopy(f.Items[f.I])
	if st.forIndex != "" {
		v[st.forIndex] = int64(f.I)
	}
}

// cleanupFor drops the variables created inside the loop: they are scoped
// to it, as documented.
func (x *execution) cleanupFor(f *frame) {
	keep := map[string]bool{}
	for _, k := range f.Outer {
		keep[k] = true
	}
	v := x.vars()
	for k := range v {
		if !keep[k] {
			delete(v, k)
		}
	}
}

func (x *execution) assign(ev *evalEnv, as []assignment) error {
	for _, a := range as {
		v, err := a.value.eval(ev)
		if err != nil {
			return err
		}
		if err := setLValue(ev, a.target, v); err != nil {
			return err
		}
	}
	return nil
}

func setLValue(ev *evalEnv, lv lvalue, v any) error {
	if len(lv.path) == 0 {
		ev.vars[lv.name] = v
		return nil
	}
	cur, ok := ev.vars[lv.name]
	if !ok || cur == nil {
		cur = map[string]any{}
		ev.vars[lv.name] = cur
	}
	for i, pe := range lv.path {
		k, err := ev.eval(pe)
		if err != nil {
			return err
		}
		last := i == len(lv.path)-1
		switch c := cur.(type) {
		case map[string]any:
			ks, ok := k.(string)
			if !ok {
				return raiseTag("TypeError", "map key must be a string, got %s", typeName(k))
			}
			if last {
				c[ks] = v
				return nil
			}
			next, ok := c[ks]
			if !ok || next == nil {
				next = map[string]any{}
				c[ks] = next
			}
			cur = next
		case []any:
			ki, ok := k.(int64)
			if !ok {
				return raiseTag("TypeError", "list index must be an integer, got %s", typeName(k))
			}
			if ki < 0 || ki >= int64(len(c)) {
				return raiseTag("IndexError", "list index %d out of range", ki)
			}
			if last {
				c[ki] = v
				return nil
			}
			cur = c[ki]
		default:
			return raiseTag("TypeError", "cannot assign into %s", typeName(cur))
		}
	}
	return nil
}

// jump implements next: a step name in the current or an enclosing steps
// list, or end, break, continue.
func (x *execution) jump(target string) {
	switch target {
	case "end":
		x.doReturn(nil)
		return
	case "break", "continue":
		for len(x.frames) > 0 && x.top().Kind != fFor {
			if x.top().Kind == fCall {
				break
			}
			x.pop()
		}
		if len(x.frames) == 0 || x.top().Kind != fFor {
			x.raise(raiseTag("SystemError", "%s outside a for loop", target).Value)
			return
		}
		if target == "break" {
			f := x.pop()
			x.cleanupFor(f)
			if f.Next != "" {
				x.jump(f.Next)
			}
		}
		return
	}
	for i := len(x.frames) - 1; i >= 0; i-- {
		f := x.frames[i]
		if f.Kind == fBlock {
			if idx, ok := x.rt.wf.blocks[f.Block].byName[target]; ok {
				x.frames = x.frames[:i+1]
				f.PC = idx
				return
			}
			if x.rt.wf.blocks[f.Block].forBody {
				break
			}
		}
		if f.Kind == fCall || f.Kind == fFor {
			break
		}
	}
	x.raise(raiseTag("SystemError", "next: step %q not reachable", target).Value)
}

func (x *execution) doReturn(v any) {
	for len(x.frames) > 0 {
		f := x.pop()
		switch f.Kind {
		case fFor:
			x.cleanupFor(f)
		case fCall:
			if len(x.frames) == 0 {
				x.finish(StateSucceeded, v)
				return
			}
			if f.Predicate {
				t := x.top()
				b, _ := v.(bool)
				e := t.Err
				t.Err = nil
				t.Phase = phaseBody
				x.decide(t, e, b)
				return
			}
			if f.Result != "" {
				x.vars()[f.Result] = v
			}
			if f.Next != "" {
				x.jump(f.Next)
			}
			return
		}
	}
}

func (x *execution) raise(v any) {
	for len(x.frames) > 0 {
		f := x.top()
		switch f.Kind {
		case fBlock, fExcept:
			x.pop()
		case fFor:
			x.cleanupFor(f)
			x.pop()
		case fCall:
			x.pop()
			if len(x.frames) == 0 {
				x.finish(StateFailed, v)
				return
			}
			if f.Predicate {
				// The predicate itself failed: stop retrying and let the
				// try handle the predicate's error.
				t := x.top()
				t.Err = nil
				t.Phase = phaseBody
				x.handleExcept(t, v)
				return
			}
		case fTry:
			x.tryFailed(f, v)
			return
		default:
			x.pop()
		}
	}
}

func (x *execution) tryFailed(t *frame, v any) {
	st := x.stepAt(t.SB, t.SI)
	if st.retry == nil {
		x.handleExcept(t, v)
		return
	}
	pred := st.retry.predicate
	if builtinPredicates[pred] {
		x.decide(t, v, defaultRetryPredicate(v, pred == "http.default_retry_predicate_non_idempotent"))
		return
	}
	sw := x.rt.wf.subs[pred]
	t.Phase = phaseDeciding
	t.Err = v
	x.frames = append(x.frames,
		&frame{Kind: fCall, Sub: sw.name, Vars: map[string]any{sw.params[0].name: deepCopy(v)}, Predicate: true},
		&frame{Kind: fBlock, Block: sw.body})
}

// Backoff of http.default_retry, as documented.
var defaultBackoff = struct {
	maxRetries               int64
	initial, max, multiplier float64
}{5, 1, 60, 1.25}

func (x *execution) decide(t *frame, v any, retry bool) {
	st := x.stepAt(t.SB, t.SI)
	rp := st.retry
	maxRetries := defaultBackoff.maxRetries
	initial, maxDelay, mult := defaultBackoff.initial, defaultBackoff.max, defaultBackoff.multiplier
	if rp.maxRetries != nil {
		ev := x.env()
		nums := make([]float64, 4)
		for i, tp := range []*tmpl{rp.maxRetries, rp.initialDelay, rp.maxDelay, rp.multiplier} {
			n, err := tp.eval(ev)
			f, ok := toFloat(n)
			if err != nil || !ok || f < 0 || math.IsNaN(f) {
				x.handleExcept(t, raiseTag("ValueError", "retry settings of step %s must be non-negative numbers", st.name).Value)
				return
			}
			nums[i] = f
		}
		maxRetries = int64(nums[0])
		initial, maxDelay, mult = nums[1], nums[2], nums[3]
	}
	if !retry || int64(t.Retries) >= maxRetries {
		x.handleExcept(t, v)
		return
	}
	delay := initial * math.Pow(mult, float64(t.Retries))
	if delay > maxDelay {
		delay = maxDelay
	}
	t.Retries++
	t.Phase = phaseBackoff
	t.WakeAt = x.rt.now().Add(time.Duration(delay * float64(time.Second))).UnixNano()
	x.rt.logger.Debug("workflow retry scheduled", "execution", x.name, "step", st.name, "attempt", t.Retries, "delay_seconds", delay)
}

func (x *execution) handleExcept(t *frame, v any) {
	st := x.stepAt(t.SB, t.SI)
	// t is the top frame here.
	x.pop()
	if st.except < 0 {
		x.raise(v)
		return
	}
	if st.exceptAs != "" {
		x.vars()[st.exceptAs] = v
	}
	x.frames = append(x.frames, &frame{Kind: fExcept, Next: t.Next}, &frame{Kind: fBlock, Block: st.except})
}

// defaultRetryPredicate is http.default_retry_predicate: 429, 502, 503, 504,
// ConnectionError, ConnectionFailedError and TimeoutError. The
// non-idempotent variant retries only 429, 503 and ConnectionFailedError
// (nothing reached the endpoint). Both as documented in the stdlib
// reference.
func defaultRetryPredicate(v any, nonIdempotent bool) bool {
	m, ok := v.(map[string]any)
	if !ok {
		return false
	}
	if code, ok := m["code"].(int64); ok {
		switch code {
		case 429, 503:
			return true
		case 502, 504:
			return !nonIdempotent
		}
	}
	tags, _ := m["tags"].([]any)
	for _, t := range tags {
		switch t {
		case "ConnectionFailedError":
			return true
		case "ConnectionError", "TimeoutError":
			if !nonIdempotent {
				return true
			}
		}
	}
	return false
}

func (x *execution) finish(state State, v any) {
	x.frames = nil
	x.finalState = state
	x.finalValue = v
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(fmt.Sprint(v))
	}
	return b
}
