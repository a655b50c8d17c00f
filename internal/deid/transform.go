package deid

import (
	"context"
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
