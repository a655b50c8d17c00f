package deid

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"cloud.google.com/go/dlp/apiv2/dlppb"
)

// transformer is one compiled DLP PrimitiveTransformation.
type transformer interface {
	// text appends the replacement for finding s (of infoType it) in free text.
	text(dst []byte, s, it string, rc *rowCtx) ([]byte, error)
	// cell transforms a whole cell.
	cell(v Value, it string, rc *rowCtx) (Value, error)
	// kind names the transformation in errors.
	kind() string
}

// rowCtx gives transformations with a context field access to the row.
type rowCtx struct {
	cols map[string]int
	row  []Value
}

func (rc *rowCtx) field(name string) (Value, bool) {
	if rc == nil || name == "" {
		return nil, false
	}
	i, ok := rc.cols[name]
	if !ok || i >= len(rc.row) || rc.row[i] == nil {
		return nil, false
	}
	return rc.row[i], true
}

// KeyUnwrapper unwraps a KMS-wrapped DLP crypto key (kmsWrapped) for the local
// engine; the Cloud KMS call lives with the caller.
type KeyUnwrapper func(ctx context.Context, cryptoKeyName string, wrapped []byte) ([]byte, error)

type keyring struct {
	unwrap    KeyUnwrapper
	transient map[string][]byte
}

func (k *keyring) key(ctx context.Context, ck *dlppb.CryptoKey) ([]byte, error) {
	switch {
	case ck.GetUnwrapped() != nil:
		return ck.GetUnwrapped().GetKey(), nil
	case ck.GetTransient() != nil:
		name := ck.GetTransient().GetName()
		if name == "" {
			return nil, fmt.Errorf("%w: transient crypto key needs a name", ErrConfig)
		}
		if b, ok := k.transient[name]; ok {
			return b, nil
		}
		b := make([]byte, 32)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		k.transient[name] = b
		return b, nil
	case ck.GetKmsWrapped() != nil:
		if k.unwrap == nil {
			return nil, fmt.Errorf("%w: kmsWrapped crypto key needs WithKeyUnwrapper", ErrUnsupported)
		}
		w := ck.GetKmsWrapped()
		b, err := k.unwrap(ctx, w.GetCryptoKeyName(), w.GetWrappedKey())
		if err != nil {
			return nil, fmt.Errorf("unwrap crypto key %s: %w", w.GetCryptoKeyName(), err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("%w: crypto key is required", ErrConfig)
}

// compile turns a PrimitiveTransformation into a transformer.
func compile(ctx context.Context, pt *dlppb.PrimitiveTransformation, keys *keyring) (transformer, error) {
	switch t := pt.GetTransformation().(type) {
	case *dlppb.PrimitiveTransformation_RedactConfig:
		return redact{}, nil
	case *dlppb.PrimitiveTransformation_ReplaceConfig:
		nv := t.ReplaceConfig.GetNewValue()
		if nv == nil {
			return nil, fmt.Errorf("%w: replaceConfig.newValue is required", ErrConfig)
		}
		v, err := fromDLPValue(nv)
		if err != nil {
			return nil, err
		}
		return replace{v: v, s: valueString(v)}, nil
	case *dlppb.PrimitiveTransformation_ReplaceWithInfoTypeConfig:
		return replaceInfoType{}, nil
	case *dlppb.PrimitiveTransformation_CharacterMaskConfig:
		return newCharMask(t.CharacterMaskConfig)
	case *dlppb.PrimitiveTransformation_CryptoHashConfig:
		k, err := keys.key(ctx, t.CryptoHashConfig.GetCryptoKey())
		if err != nil {
			return nil, err
		}
		if len(k) != 32 && len(k) != 64 {
			return nil, fmt.Errorf("%w: cryptoHashConfig key must be 32 or 64 bytes, got %d", ErrConfig, len(k))
		}
		return cryptoHash{key: k}, nil
	case *dlppb.PrimitiveTransformation_CryptoDeterministicConfig:
		return newDeterministic(ctx, t.CryptoDeterministicConfig, keys)
	case *dlppb.PrimitiveTransformation_DateShiftConfig:
		return newDateShift(ctx, t.DateShiftConfig, keys)
	case *dlppb.PrimitiveTransformation_BucketingConfig:
		return newBucketing(t.BucketingConfig)
	case *dlppb.PrimitiveTransformation_FixedSizeBucketingConfig:
		return newFixedBucketing(t.FixedSizeBucketingConfig)
	case *dlppb.PrimitiveTransformation_TimePartConfig:
		if t.TimePartConfig.GetPartToExtract() == dlppb.TimePartConfig_TIME_PART_UNSPECIFIED {
			return nil, fmt.Errorf("%w: timePartConfig.partToExtract is required", ErrConfig)
		}
		return timePart{part: t.TimePartConfig.GetPartToExtract()}, nil
	case *dlppb.PrimitiveTransformation_ReplaceDictionaryConfig:
		words := t.ReplaceDictionaryConfig.GetWordList().GetWords()
		if len(words) == 0 {
			return nil, fmt.Errorf("%w: replaceDictionaryConfig needs a wordList", ErrConfig)
		}
		return replaceDictionary{words: words}, nil
	case nil:
		return nil, fmt.Errorf("%w: empty primitiveTransformation", ErrConfig)
	default:
		return nil, fmt.Errorf("%w: primitive transformation %T", ErrUnsupported, t)
	}
}

// ---- redact, replace, replace with infoType

type redact struct{}

func (redact) kind() string { return "redact" }
func (redact) text(dst []byte, _, _ string, _ *rowCtx) ([]byte, error) {
	return dst, nil
}
func (redact) cell(v Value, _ string, _ *rowCtx) (Value, error) {
	if v == nil {
		return nil, nil
	}
	if _, ok := v.(string); ok {
		return "", nil
	}
	return nil, nil
}

type replace struct {
	v Value
	s string
}

func (replace) kind() string { return "replaceConfig" }
func (r replace) text(dst []byte, _, _ string, _ *rowCtx) ([]byte, error) {
	return append(dst, r.s...), nil
}
func (r replace) cell(Value, string, *rowCtx) (Value, error) { return r.v, nil }

type replaceInfoType struct{}

func (replaceInfoType) kind() string { return "replaceWithInfoTypeConfig" }
func (replaceInfoType) text(dst []byte, _, it string, _ *rowCtx) ([]byte, error) {
	dst = append(dst, '[')
	dst = append(dst, it...)
	return append(dst, ']'), nil
}
func (replaceInfoType) cell(_ Value, it string, _ *rowCtx) (Value, error) {
	return "[" + it + "]", nil
}

// ---- character mask

type charMask struct {
	char      rune
	charSet   bool
	n         int
	reverse   bool
	skip      string // characters_to_skip
	common    uint8  // bit set of CommonCharsToIgnore
	hasIgnore bool
}

func newCharMask(c *dlppb.CharacterMaskConfig) (transformer, error) {
	m := &charMask{n: int(c.GetNumberToMask()), reverse: c.GetReverseOrder()}
	if mc := c.GetMaskingCharacter(); mc != "" {
		r, size := utf8.DecodeRuneInString(mc)
		if size != len(mc) {
			return nil, fmt.Errorf("%w: characterMaskConfig.maskingCharacter must be one character", ErrConfig)
		}
		m.char, m.charSet = r, true
	}
	for _, ig := range c.GetCharactersToIgnore() {
		m.hasIgnore = true
		switch x := ig.GetCharacters().(type) {
		case *dlppb.CharsToIgnore_CharactersToSkip:
			m.skip += x.CharactersToSkip
		case *dlppb.CharsToIgnore_CommonCharactersToIgnore:
			if x.CommonCharactersToIgnore == dlppb.CharsToIgnore_COMMON_CHARS_TO_IGNORE_UNSPECIFIED {
				return nil, fmt.Errorf("%w: commonCharactersToIgnore is unspecified", ErrConfig)
			}
			m.common |= 1 << uint(x.CommonCharactersToIgnore)
		default:
			return nil, fmt.Errorf("%w: charactersToIgnore entry is empty", ErrConfig)
		}
	}
	return m, nil
}

func (m *charMask) kind() string { return "characterMaskConfig" }

func (m *charMask) ignored(r rune) bool {
	if !m.hasIgnore {
		return false
	}
	if m.skip != "" && strings.ContainsRune(m.skip, r) {
		return true
	}
	has := func(k dlppb.CharsToIgnore_CommonCharsToIgnore) bool { return m.common&(1<<uint(k)) != 0 }
	switch {
	case r >= '0' && r <= '9':
		return has(dlppb.CharsToIgnore_NUMERIC)
	case r >= 'A' && r <= 'Z':
		return has(dlppb.CharsToIgnore_ALPHA_UPPER_CASE)
	case r >= 'a' && r <= 'z':
		return has(dlppb.CharsToIgnore_ALPHA_LOWER_CASE)
	case r == ' ' || r == '\t' || r == '\n' || r == '\v' || r == '\f' || r == '\r':
		return has(dlppb.CharsToIgnore_WHITESPACE)
	case r < 0x80 && r > ' ' && r != 0x7f:
		return has(dlppb.CharsToIgnore_PUNCTUATION)
	}
	return false
}

func (m *charMask) apply(dst []byte, s string, numeric bool) []byte {
	char := m.char
	if !m.charSet {
		char = '*'
		if numeric {
			char = '0'
		}
	}
	maskable := 0
	for _, r := range s {
		if !m.ignored(r) {
			maskable++
		}
	}
	toMask := maskable
	switch {
	case m.n > 0 && m.n < maskable:
		toMask = m.n
	case m.n < 0:
		toMask = max(maskable+m.n, 0)
	}
	// Forward masks the first toMask maskable characters; reverse the last.
	startAt := 0
	if m.reverse {
		startAt = maskable - toMask
	}
	k := 0
	for _, r := range s {
		if m.ignored(r) {
			dst = utf8.AppendRune(dst, r)
			continue
		}
		if k >= startAt && k < startAt+toMask {
			dst = utf8.AppendRune(dst, char)
		} else {
			dst = utf8.AppendRune(dst, r)
		}
		k++
	}
	return dst
}

func (m *charMask) text(dst []byte, s, _ string, _ *rowCtx) ([]byte, error) {
	return m.apply(dst, s, false), nil
}

func (m *charMask) cell(v Value, _ string, _ *rowCtx) (Value, error) {
	if v == nil {
		return nil, nil
	}
	_, isInt := v.(int64)
	return string(m.apply(nil, valueString(v), isInt)), nil
}

// ---- crypto hash

type cryptoHash struct{ key []byte }

func (cryptoHash) kind() string { return "cryptoHashConfig" }

func (h cryptoHash) sum(s string) string {
	m := hmac.New(sha256.New, h.key)
	m.Write([]byte(s))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

func (h cryptoHash) text(dst []byte, s, _ string, _ *rowCtx) ([]byte, error) {
	return append(dst, h.sum(s)...), nil
}

func (h cryptoHash) cell(v Value, _ string, _ *rowCtx) (Value, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case string:
		return h.sum(x), nil
	case int64:
		return h.sum(strconv.FormatInt(x, 10)), nil
	}
	return nil, fmt.Errorf("%w: cryptoHashConfig applies to strings and integers only", ErrTransform)
}

// ---- crypto deterministic (AES-SIV)

type deterministic struct {
	siv       *siv
	surrogate string
	context   string
}

func newDeterministic(ctx context.Context, c *dlppb.CryptoDeterministicConfig, keys *keyring) (*deterministic, error) {
	k, err := keys.key(ctx, c.GetCryptoKey())
	if err != nil {
		return nil, err
	}
	if n := len(k); n != 16 && n != 24 && n != 32 && n != 64 {
		return nil, fmt.Errorf("%w: cryptoDeterministicConfig key must be 16, 24, 32 or 64 bytes, got %d", ErrConfig, n)
	}
	s, err := newSIV(expandSIVKey(k))
	if err != nil {
		return nil, err
	}
	return &deterministic{siv: s, surrogate: c.GetSurrogateInfoType().GetName(), context: c.GetContext().GetName()}, nil
}

func (d *deterministic) kind() string { return "cryptoDeterministicConfig" }

// tweak encodes the context field as DLP documents: an int64 big endian then
// 0x01, a string's UTF-8 then 0x02. No context field: no associated data.
func tweak(v Value, ok bool) [][]byte {
	if !ok {
		return nil
	}
	switch x := v.(type) {
	case int64:
		b := binary.BigEndian.AppendUint64(nil, uint64(x))
		return [][]byte{append(b, 1)}
	case string:
		return [][]byte{append([]byte(x), 2)}
	}
	return [][]byte{append([]byte(valueString(v)), 2)}
}

func (d *deterministic) token(s string, rc *rowCtx) string {
	ad := tweak(rc.field(d.context))
	ct := d.siv.seal([]byte(s), ad...)
	tok := base64.StdEncoding.EncodeToString(ct)
	if d.surrogate == "" {
		return tok
	}
	return d.surrogate + "(" + strconv.Itoa(len(tok)) + "):" + tok
}

func (d *deterministic) text(dst []byte, s, _ string, rc *rowCtx) ([]byte, error) {
	return append(dst, d.token(s, rc)...), nil
}

func (d *deterministic) cell(v Value, _ string, rc *rowCtx) (Value, error) {
	if v == nil {
		return nil, nil
	}
	return d.token(valueString(v), rc), nil
}

func (d *deterministic) reverse(tok string, rc *rowCtx) (string, error) {
	ct, err := base64.StdEncoding.DecodeString(tok)
	if err != nil {
		return "", fmt.Errorf("%w: surrogate is not base64", ErrReidentify)
	}
	p, err := d.siv.open(ct, tweak(rc.field(d.context))...)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrReidentify, err)
	}
	return string(p), nil
}

// ---- date shift

type dateShift struct {
	lo, hi  int
	context string
	key     []byte // nil: random shift chosen once per engine
	fixed   int
}

func newDateShift(ctx context.Context, c *dlppb.DateShiftConfig, keys *keyring) (*dateShift, error) {
	d := &dateShift{lo: int(c.GetLowerBoundDays()), hi: int(c.GetUpperBoundDays()), context: c.GetContext().GetName()}
	if d.lo > d.hi || d.lo < -365250 || d.hi > 365250 {
		return nil, fmt.Errorf("%w: dateShiftConfig bounds must satisfy -365250 <= lowerBoundDays <= upperBoundDays <= 365250", ErrConfig)
	}
	if (d.context == "") != (c.GetCryptoKey() == nil) {
		return nil, fmt.Errorf("%w: dateShiftConfig needs both context and cryptoKey, or neither", ErrConfig)
	}
	if c.GetCryptoKey() != nil {
		k, err := keys.key(ctx, c.GetCryptoKey())
		if err != nil {
			return nil, err
		}
		d.key = k
	} else {
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		d.fixed = d.lo + int(binary.BigEndian.Uint64(b[:])%uint64(d.hi-d.lo+1))
	}
	return d, nil
}

func (d *dateShift) kind() string { return "dateShiftConfig" }

func (d *dateShift) days(rc *rowCtx) int {
	if d.key == nil {
		return d.fixed
	}
	v, ok := rc.field(d.context)
	if !ok {
		return d.fixed
	}
	m := hmac.New(sha256.New, d.key)
	m.Write([]byte(valueString(v)))
	sum := m.Sum(nil)
	return d.lo + int(binary.BigEndian.Uint64(sum[:8])%uint64(d.hi-d.lo+1))
}

var dateLayouts = []string{"2006-01-02", time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02 15:04:05.999999999", "01/02/2006"}

func (d *dateShift) shiftString(s string, rc *rowCtx) (string, error) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.AddDate(0, 0, d.days(rc)).Format(l), nil
		}
	}
	return "", fmt.Errorf("%w: dateShiftConfig applies to dates and timestamps only", ErrTransform)
}

func (d *dateShift) text(dst []byte, s, _ string, rc *rowCtx) ([]byte, error) {
	out, err := d.shiftString(s, rc)
	return append(dst, out...), err
}

func (d *dateShift) cell(v Value, _ string, rc *rowCtx) (Value, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return x.AddDate(0, 0, d.days(rc)), nil
	case string:
		return d.shiftString(x, rc)
	}
	return nil, fmt.Errorf("%w: dateShiftConfig applies to dates and timestamps only", ErrTransform)
}

// ---- time part

// timePart extracts one part of a date or timestamp, with DLP's ranges:
// YEAR 0-9999, MONTH 1-12, DAY_OF_MONTH 1-31, DAY_OF_WEEK 1-7 (Monday is 1,
// as ISO 8601), WEEK_OF_YEAR 1-53 (ISO week), HOUR_OF_DAY 0-23.
type timePart struct{ part dlppb.TimePartConfig_TimePart }

func (timePart) kind() string { return "timePartConfig" }

func (p timePart) of(t time.Time) int64 {
	switch p.part {
	case dlppb.TimePartConfig_YEAR:
		return int64(t.Year())
	case dlppb.TimePartConfig_MONTH:
		return int64(t.Month())
	case dlppb.TimePartConfig_DAY_OF_MONTH:
		return int64(t.Day())
	case dlppb.TimePartConfig_DAY_OF_WEEK:
		return int64((int(t.Weekday())+6)%7 + 1)
	case dlppb.TimePartConfig_WEEK_OF_YEAR:
		_, w := t.ISOWeek()
		return int64(w)
	}
	return int64(t.Hour())
}

func parseTime(s string) (time.Time, bool) {
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (p timePart) text(dst []byte, s, _ string, _ *rowCtx) ([]byte, error) {
	t, ok := parseTime(s)
	if !ok {
		return dst, fmt.Errorf("%w: timePartConfig applies to dates and timestamps only", ErrTransform)
	}
	return strconv.AppendInt(dst, p.of(t), 10), nil
}

func (p timePart) cell(v Value, _ string, _ *rowCtx) (Value, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return p.of(x), nil
	case string:
		if t, ok := parseTime(x); ok {
			return p.of(t), nil
		}
	}
	return nil, fmt.Errorf("%w: timePartConfig applies to dates and timestamps only", ErrTransform)
}

// ---- replace from dictionary

type replaceDictionary struct{ words []string }

func (replaceDictionary) kind() string { return "replaceDictionaryConfig" }

func (r replaceDictionary) pick() string { return r.words[mrand.IntN(len(r.words))] }

func (r replaceDictionary) text(dst []byte, _, _ string, _ *rowCtx) ([]byte, error) {
	return append(dst, r.pick()...), nil
}

func (r replaceDictionary) cell(v Value, _ string, _ *rowCtx) (Value, error) {
	if v == nil {
		return nil, nil
	}
	return r.pick(), nil
}

// ---- bucketing

type bucket struct {
	min, max Value // nil: unbounded
	repl     Value
}

type bucketing struct{ buckets []bucket }

func newBucketing(c *dlppb.BucketingConfig) (transformer, error) {
	b := &bucketing{}
	for i, bk := range c.GetBuckets() {
		var err error
		var x bucket
		if bk.GetMin() != nil {
			if x.min, err = fromDLPValue(bk.GetMin()); err != nil {
				return nil, err
			}
		}
		if bk.GetMax() != nil {
			if x.max, err = fromDLPValue(bk.GetMax()); err != nil {
				return nil, err
			}
		}
		if bk.GetReplacementValue() == nil {
			return nil, fmt.Errorf("%w: bucketingConfig.buckets[%d].replacementValue is required", ErrConfig, i)
		}
		if x.repl, err = fromDLPValue(bk.GetReplacementValue()); err != nil {
			return nil, err
		}
		b.buckets = append(b.buckets, x)
	}
	if len(b.buckets) == 0 {
		return nil, fmt.Errorf("%w: bucketingConfig needs buckets", ErrConfig)
	}
	return b, nil
}

func (*bucketing) kind() string { return "bucketingConfig" }

// compare orders v against bound after converting v to the bound's type, as
// DLP does; ok is false when they cannot be compared.
func compare(v, bound Value) (int, bool) {
	switch b := bound.(type) {
	case int64, float64:
		fb := toFloat(b)
		fv, ok := numeric(v)
		if !ok {
			return 0, false
		}
		switch {
		case fv < fb:
			return -1, true
		case fv > fb:
			return 1, true
		}
		return 0, true
	case time.Time:
		tv, ok := v.(time.Time)
		if !ok {
			s, isStr := v.(string)
			if !isStr {
				return 0, false
			}
			var err error
			if tv, err = time.Parse(time.RFC3339Nano, s); err != nil {
				if tv, err = time.Parse("2006-01-02", s); err != nil {
					return 0, false
				}
			}
		}
		return tv.Compare(b), true
	case string:
		return strings.Compare(valueString(v), b), true
	}
	return 0, false
}

func (b *bucketing) find(v Value) (Value, bool, error) {
	for _, bk := range b.buckets {
		if bk.min != nil {
			c, ok := compare(v, bk.min)
			if !ok {
				return nil, false, fmt.Errorf("%w: bucketingConfig cannot compare the value with the bucket bounds", ErrTransform)
			}
			if c < 0 {
				continue
			}
		}
		if bk.max != nil {
			c, ok := compare(v, bk.max)
			if !ok {
				return nil, false, fmt.Errorf("%w: bucketingConfig cannot compare the value with the bucket bounds", ErrTransform)
			}
			if c >= 0 {
				continue
			}
		}
		return bk.repl, true, nil
	}
	return nil, false, nil
}

func (b *bucketing) text(dst []byte, s, _ string, _ *rowCtx) ([]byte, error) {
	var v Value = s
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		v = f
	}
	r, ok, err := b.find(v)
	if err != nil {
		return dst, err
	}
	if !ok {
		return append(dst, s...), nil
	}
	return append(dst, valueString(r)...), nil
}

func (b *bucketing) cell(v Value, _ string, _ *rowCtx) (Value, error) {
	if v == nil {
		return nil, nil
	}
	r, ok, err := b.find(v)
	if err != nil || !ok {
		// DLP leaves a value that falls in no bucket unchanged.
		return v, err
	}
	return r, nil
}

type fixedBucketing struct {
	lo, hi, size float64
	isInt        bool
}

func newFixedBucketing(c *dlppb.FixedSizeBucketingConfig) (transformer, error) {
	lo, lok := numericDLP(c.GetLowerBound())
	hi, hok := numericDLP(c.GetUpperBound())
	if !lok || !hok || c.GetBucketSize() <= 0 || lo >= hi {
		return nil, fmt.Errorf("%w: fixedSizeBucketingConfig needs numeric lowerBound < upperBound and bucketSize > 0", ErrConfig)
	}
	_, li := c.GetLowerBound().GetType().(*dlppb.Value_IntegerValue)
	return &fixedBucketing{lo: lo, hi: hi, size: c.GetBucketSize(), isInt: li && c.GetBucketSize() == math.Trunc(c.GetBucketSize())}, nil
}

func (*fixedBucketing) kind() string { return "fixedSizeBucketingConfig" }

func (f *fixedBucketing) num(x float64) string {
	if f.isInt || x == math.Trunc(x) {
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(x*100)/100, 'f', -1, 64)
}

// label follows DLP's documented scheme: with lower 10, upper 89, size 10 the
// buckets are -10, 10-20, ..., 80-89, 89+.
func (f *fixedBucketing) label(v float64) string {
	switch {
	case v < f.lo:
		return "-" + f.num(f.lo)
	case v >= f.hi:
		return f.num(f.hi) + "+"
	}
	k := math.Floor((v - f.lo) / f.size)
	a := f.lo + k*f.size
	b := math.Min(a+f.size, f.hi)
	return f.num(a) + "-" + f.num(b)
}

func (f *fixedBucketing) text(dst []byte, s, _ string, _ *rowCtx) ([]byte, error) {
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return dst, fmt.Errorf("%w: fixedSizeBucketingConfig applies to numbers only", ErrTransform)
	}
	return append(dst, f.label(v)...), nil
}

func (f *fixedBucketing) cell(v Value, _ string, _ *rowCtx) (Value, error) {
	if v == nil {
		return nil, nil
	}
	x, ok := numeric(v)
	if !ok {
		return nil, fmt.Errorf("%w: fixedSizeBucketingConfig applies to numbers only", ErrTransform)
	}
	return f.label(x), nil
}

// ---- values

func toFloat(v Value) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	}
	return math.NaN()
}

func numeric(v Value) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case int:
		return float64(x), true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		return f, err == nil
	}
	return 0, false
}

func numericDLP(v *dlppb.Value) (float64, bool) {
	switch x := v.GetType().(type) {
	case *dlppb.Value_IntegerValue:
		return float64(x.IntegerValue), true
	case *dlppb.Value_FloatValue:
		return x.FloatValue, true
	}
	return 0, false
}

// fromDLPValue converts a config value (replacement, bucket bound) to a cell.
func fromDLPValue(v *dlppb.Value) (Value, error) {
	switch x := v.GetType().(type) {
	case *dlppb.Value_StringValue:
		return x.StringValue, nil
	case *dlppb.Value_IntegerValue:
		return x.IntegerValue, nil
	case *dlppb.Value_FloatValue:
		return x.FloatValue, nil
	case *dlppb.Value_BooleanValue:
		return x.BooleanValue, nil
	case *dlppb.Value_TimestampValue:
		return x.TimestampValue.AsTime(), nil
	case *dlppb.Value_DateValue:
		d := x.DateValue
		return time.Date(int(d.GetYear()), time.Month(d.GetMonth()), int(d.GetDay()), 0, 0, 0, 0, time.UTC), nil
	}
	return nil, fmt.Errorf("%w: value type %T", ErrUnsupported, v.GetType())
}

// valueString renders a scalar the way it is inspected and masked.
func valueString(v Value) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case time.Time:
		if x.Hour() == 0 && x.Minute() == 0 && x.Second() == 0 && x.Nanosecond() == 0 {
			return x.Format("2006-01-02")
		}
		return x.Format(time.RFC3339Nano)
	case []byte:
		return string(x)
	}
	return fmt.Sprint(v)
}
