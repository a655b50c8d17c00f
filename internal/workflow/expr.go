package workflow

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// This file holds the lexer and parser for Workflows expressions, the text
// inside ${...}. Operator precedence follows the documented table (syntax
// reference "Data types, functions, operators", most binding first):
//
//	()  .  []  not  unary-  * / // %  + -  < <= > >= == != in  and  or
//
// Anything the parser does not know (user subworkflows called from an
// expression, unknown standard library functions) is a parse error, so that
// Load rejects it instead of the execution failing later.

// maxExprDepth bounds recursion so hostile input cannot exhaust the stack.
const maxExprDepth = 100

// maxExprLen is a local guard on expression length. Workflows documents an
// expression length limit (see its quotas page); this bound only keeps the
// parser cheap on hostile input.
const maxExprLen = 4096

type node interface{ pos() int }

type (
	litNode struct {
		p int
		v any
	}
	identNode struct {
		p    int
		name string
	}
	fieldNode struct {
		p    int
		x    node
		name string
	}
	indexNode struct {
		p      int
		x, idx node
	}
	callNode struct {
		p    int
		fn   string
		args []node
	}
	unaryNode struct {
		p  int
		op string
		x  node
	}
	binNode struct {
		p    int
		op   string
		l, r node
	}
	listNode struct {
		p     int
		elems []node
	}
	mapNode struct {
		p    int
		keys []string
		vals []node
	}
)

func (n *litNode) pos() int   { return n.p }
func (n *identNode) pos() int { return n.p }
func (n *fieldNode) pos() int { return n.p }
func (n *indexNode) pos() int { return n.p }
func (n *callNode) pos() int  { return n.p }
func (n *unaryNode) pos() int { return n.p }
func (n *binNode) pos() int   { return n.p }
func (n *listNode) pos() int  { return n.p }
func (n *mapNode) pos() int   { return n.p }

type tokKind int

const (
	tEOF tokKind = iota
	tNum
	tStr
	tIdent
	tOp
)

type token struct {
	kind tokKind
	text string
	val  any
	pos  int
}

// exprError is a syntax error inside one expression.
type exprError struct {
	Pos int
	Msg string
}

func (e *exprError) Error() string { return fmt.Sprintf("column %d: %s", e.Pos+1, e.Msg) }

func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(src) {
		c := src[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '"' || c == '\'':
			s, n, err := lexString(src[i:])
			if err != nil {
				return nil, &exprError{i, err.Error()}
			}
			toks = append(toks, token{kind: tStr, text: src[i : i+n], val: s, pos: i})
			i += n
		case c >= '0' && c <= '9':
			j := i
			isFloat := false
			for j < len(src) && src[j] >= '0' && src[j] <= '9' {
				j++
			}
			if j+1 < len(src) && src[j] == '.' && src[j+1] >= '0' && src[j+1] <= '9' {
				isFloat = true
				j++
				for j < len(src) && src[j] >= '0' && src[j] <= '9' {
					j++
				}
			}
			if j < len(src) && (src[j] == 'e' || src[j] == 'E') {
				k := j + 1
				if k < len(src) && (src[k] == '+' || src[k] == '-') {
					k++
				}
				if k < len(src) && src[k] >= '0' && src[k] <= '9' {
					isFloat = true
					for k < len(src) && src[k] >= '0' && src[k] <= '9' {
						k++
					}
					j = k
				}
			}
			text := src[i:j]
			var v any
			if isFloat {
				f, err := strconv.ParseFloat(text, 64)
				if err != nil {
					return nil, &exprError{i, "bad number " + text}
				}
				v = f
			} else {
				n, err := strconv.ParseInt(text, 10, 64)
				if err != nil {
					return nil, &exprError{i, "integer out of range " + text}
				}
				v = n
			}
			toks = append(toks, token{kind: tNum, text: text, val: v, pos: i})
			i = j
		case isIdentStart(c):
			j := i
			for j < len(src) && (isIdentStart(src[j]) || (src[j] >= '0' && src[j] <= '9')) {
				j++
			}
			toks = append(toks, token{kind: tIdent, text: src[i:j], pos: i})
			i = j
		default:
			two := ""
			if i+1 < len(src) {
				two = src[i : i+2]
			}
			switch two {
			case "//", "==", "!=", "<=", ">=":
				toks = append(toks, token{kind: tOp, text: two, pos: i})
				i += 2
				continue
			}
			if strings.IndexByte("+-*/%<>()[].,{}:", c) >= 0 {
				toks = append(toks, token{kind: tOp, text: string(c), pos: i})
				i++
				continue
			}
			r, _ := utf8.DecodeRuneInString(src[i:])
			return nil, &exprError{i, fmt.Sprintf("unexpected character %q", r)}
		}
	}
	toks = append(toks, token{kind: tEOF, pos: len(src)})
	return toks, nil
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// lexString reads a quoted string literal and returns its value and the
// number of bytes consumed.
func lexString(s string) (string, int, error) {
	q := s[0]
	var b strings.Builder
	i := 1
	for i < len(s) {
		c := s[i]
		switch {
		case c == q:
			return b.String(), i + 1, nil
		case c == '\\':
			if i+1 >= len(s) {
				return "", 0, fmt.Errorf("unterminated string")
			}
			e := s[i+1]
			switch e {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '\\', '"', '\'':
				b.WriteByte(e)
			case 'u':
				if i+6 > len(s) {
					return "", 0, fmt.Errorf("bad \\u escape")
				}
				n, err := strconv.ParseUint(s[i+2:i+6], 16, 32)
				if err != nil {
					return "", 0, fmt.Errorf("bad \\u escape")
				}
				b.WriteRune(rune(n))
				i += 6
				continue
			default:
				return "", 0, fmt.Errorf("unknown escape \\%c", e)
			}
			i += 2
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}

type parser struct {
	toks  []token
	i     int
	depth int
}

// parseExpr parses the text between "${" and "}".
func parseExpr(src string) (node, error) {
	if len(src) > maxExprLen {
		return nil, &exprError{0, fmt.Sprintf("expression longer than %d characters", maxExprLen)}
	}
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, &exprError{t.pos, fmt.Sprintf("unexpected %q", t.text)}
	}
	return n, nil
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) isOp(s string) bool {
	t := p.peek()
	return t.kind == tOp && t.text == s
}

// isKeyword matches a keyword in lower or upper case (not mixed), as the
// documentation allows for and, or and not.
func (p *parser) isKeyword(kw string) bool {
	t := p.peek()
	return t.kind == tIdent && (t.text == kw || t.text == strings.ToUpper(kw))
}

func (p *parser) expect(op string) error {
	t := p.next()
	if t.kind != tOp || t.text != op {
		if t.kind == tEOF {
			return &exprError{t.pos, fmt.Sprintf("expected %q, found end of expression", op)}
		}
		return &exprError{t.pos, fmt.Sprintf("expected %q, found %q", op, t.text)}
	}
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxExprDepth {
		return &exprError{p.peek().pos, "expression nested too deeply"}
	}
	return nil
}

func (p *parser) or() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("or") {
		t := p.next()
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = &binNode{t.pos, "or", l, r}
	}
	return l, nil
}

func (p *parser) and() (node, error) {
	l, err := p.cmp()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("and") {
		t := p.next()
		r, err := p.cmp()
		if err != nil {
			return nil, err
		}
		l = &binNode{t.pos, "and", l, r}
	}
	return l, nil
}

func (p *parser) cmp() (node, error) {
	l, err := p.add()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		op := ""
		switch {
		case t.kind == tOp && (t.text == "<" || t.text == "<=" || t.text == ">" || t.text == ">=" || t.text == "==" || t.text == "!="):
			op = t.text
		case t.kind == tIdent && t.text == "in":
			op = "in"
		}
		if op == "" {
			return l, nil
		}
		p.next()
		r, err := p.add()
		if err != nil {
			return nil, err
		}
		l = &binNode{t.pos, op, l, r}
	}
}

func (p *parser) add() (node, error) {
	l, err := p.mul()
	if err != nil {
		return nil, err
	}
	for p.isOp("+") || p.isOp("-") {
		t := p.next()
		r, err := p.mul()
		if err != nil {
			return nil, err
		}
		l = &binNode{t.pos, t.text, l, r}
	}
	return l, nil
}

func (p *parser) mul() (node, error) {
	l, err := p.unary()
	if err != nil {
		return nil, err
	}
	for p.isOp("*") || p.isOp("/") || p.isOp("//") || p.isOp("%") {
		t := p.next()
		r, err := p.unary()
		if err != nil {
			return nil, err
		}
		l = &binNode{t.pos, t.text, l, r}
	}
	return l, nil
}

func (p *parser) unary() (node, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	if p.isKeyword("not") {
		t := p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &unaryNode{t.pos, "not", x}, nil
	}
	if p.isOp("-") {
		t := p.next()
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &unaryNode{t.pos, "-", x}, nil
	}
	return p.postfix()
}

func (p *parser) postfix() (node, error) {
	x, err := p.primary()
	if err != nil {
		return nil, err
	}
	for {
		switch {
		case p.isOp("."):
			p.next()
			t := p.next()
			if t.kind != tIdent {
				return nil, &exprError{t.pos, "expected a name after '.'"}
			}
			x = &fieldNode{t.pos, x, t.text}
		case p.isOp("["):
			t := p.next()
			idx, err := p.or()
			if err != nil {
				return nil, err
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			x = &indexNode{t.pos, x, idx}
		case p.isOp("("):
			t := p.next()
			name, ok := dottedName(x)
			if !ok {
				return nil, &exprError{t.pos, "only named functions can be called"}
			}
			fn, known := exprFuncs[name]
			if !known {
				return nil, &exprError{x.pos(), fmt.Sprintf("function %s is not supported in expressions by the local runtime", name)}
			}
			var args []node
			for !p.isOp(")") {
				a, err := p.or()
				if err != nil {
					return nil, err
				}
				args = append(args, a)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			if len(args) < fn.min || len(args) > fn.max {
				return nil, &exprError{x.pos(), fmt.Sprintf("%s takes %s arguments, got %d", name, arity(fn), len(args))}
			}
			x = &callNode{x.pos(), name, args}
		default:
			return x, nil
		}
	}
}

func arity(f exprFunc) string {
	if f.min == f.max {
		return strconv.Itoa(f.min)
	}
	return fmt.Sprintf("%d to %d", f.min, f.max)
}

// dottedName returns "a.b.c" for an identifier chain.
func dottedName(n node) (string, bool) {
	switch n := n.(type) {
	case *identNode:
		return n.name, true
	case *fieldNode:
		prefix, ok := dottedName(n.x)
		if !ok {
			return "", false
		}
		return prefix + "." + n.name, true
	}
	return "", false
}

func (p *parser) primary() (node, error) {
	t := p.next()
	switch t.kind {
	case tNum, tStr:
		return &litNode{t.pos, t.val}, nil
	case tIdent:
		switch t.text {
		case "true", "True", "TRUE":
			return &litNode{t.pos, true}, nil
		case "false", "False", "FALSE":
			return &litNode{t.pos, false}, nil
		case "null":
			return &litNode{t.pos, nil}, nil
		case "and", "AND", "or", "OR", "not", "NOT", "in":
			return nil, &exprError{t.pos, fmt.Sprintf("unexpected keyword %q", t.text)}
		}
		return &identNode{t.pos, t.text}, nil
	case tOp:
		switch t.text {
		case "(":
			x, err := p.or()
			if err != nil {
				return nil, err
			}
			if err := p.expect(")"); err != nil {
				return nil, err
			}
			return x, nil
		case "[":
			l := &listNode{p: t.pos}
			for !p.isOp("]") {
				e, err := p.or()
				if err != nil {
					return nil, err
				}
				l.elems = append(l.elems, e)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			if err := p.expect("]"); err != nil {
				return nil, err
			}
			return l, nil
		case "{":
			m := &mapNode{p: t.pos}
			for !p.isOp("}") {
				k := p.next()
				if k.kind != tStr {
					return nil, &exprError{k.pos, "map keys must be string literals"}
				}
				if err := p.expect(":"); err != nil {
					return nil, err
				}
				v, err := p.or()
				if err != nil {
					return nil, err
				}
				m.keys = append(m.keys, k.val.(string))
				m.vals = append(m.vals, v)
				if !p.isOp(",") {
					break
				}
				p.next()
			}
			if err := p.expect("}"); err != nil {
				return nil, err
			}
			return m, nil
		}
	case tEOF:
		return nil, &exprError{t.pos, "unexpected end of expression"}
	}
	return nil, &exprError{t.pos, fmt.Sprintf("unexpected %q", t.text)}
}
