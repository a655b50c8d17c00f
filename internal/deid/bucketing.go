package deid

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"cloud.google.com/go/dlp/apiv2/dlppb"
)

// bucket is one bucketingConfig range.
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
