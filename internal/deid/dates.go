package deid

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"strconv"
	"time"

	"cloud.google.com/go/dlp/apiv2/dlppb"
)

// dateShift implements dateShiftConfig.
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
