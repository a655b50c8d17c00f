package deid_test

import (
	"bytes"
	"context"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/deid/corpus"
	"github.com/querygate/querygate/internal/deid/internal/alcatrazjsonl"
)

// The benchmarks run both engines on the same seeded corpus in the same run,
// each using all cores (GOMAXPROCS workers), restricted to the same six
// infoTypes. scripts/bench-deid.sh turns their metrics into a table.

const benchRows = 20000

var (
	benchOnce   sync.Once
	benchCorpus *corpus.Corpus
	benchJSONL  []byte
)

func loadCorpus() (*corpus.Corpus, []byte) {
	benchOnce.Do(func() {
		benchCorpus = corpus.Generate(1, benchRows)
		benchJSONL = benchCorpus.JSONL()
	})
	return benchCorpus, benchJSONL
}

func report(b *testing.B, cells int64, found, total int) {
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(cells)*float64(b.N)/sec, "cells/s")
	b.ReportMetric(float64(found)/float64(total), "recall")
}

func BenchmarkEngine(b *testing.B) {
	c, _ := loadCorpus()
	cells := int64(len(c.Rows) * len(c.Headers))
	b.Run("local", func(b *testing.B) {
		l, err := deid.NewLocal(deid.DefaultConfig())
		if err != nil {
			b.Fatal(err)
		}
		tbl := &deid.Table{Headers: c.Headers, Rows: c.Rows}
		b.SetBytes(c.TextBytes)
		b.ReportAllocs()
		var out *deid.Table
		for b.Loop() {
			out, _, err = l.Deidentify(context.Background(), &deid.Request{Table: tbl})
			if err != nil {
				b.Fatal(err)
			}
		}
		found, total, _ := c.Recall(out.Rows)
		report(b, cells, found, total)
	})
	b.Run("alcatraz", func(b *testing.B) {
		e := alcatrazjsonl.New()
		b.SetBytes(c.TextBytes)
		b.ReportAllocs()
		var out [][]any
		for b.Loop() {
			out = e.Table(c.Rows, 0)
		}
		found, total, _ := c.Recall(out)
		report(b, cells, found, total)
	})
}

func BenchmarkJSONL(b *testing.B) {
	c, in := loadCorpus()
	cells := int64(len(c.Rows) * len(c.Headers))
	run := func(b *testing.B, filter func(io.Reader, io.Writer) error) {
		b.SetBytes(int64(len(in)))
		var out bytes.Buffer
		for b.Loop() {
			out.Reset()
			if err := filter(bytes.NewReader(in), &out); err != nil {
				b.Fatal(err)
			}
		}
		found, total, err := c.RecallJSONL(out.Bytes())
		if err != nil {
			b.Fatal(err)
		}
		report(b, cells, found, total)
	}
	b.Run("local", func(b *testing.B) {
		run(b, func(r io.Reader, w io.Writer) error {
			return deid.RunCLI(context.Background(), nil, r, w, io.Discard)
		})
	})
	b.Run("alcatraz", func(b *testing.B) {
		e := alcatrazjsonl.New()
		run(b, func(r io.Reader, w io.Writer) error { return e.Filter(r, w, 0) })
	})
}

// TestRecallAtLeastAlcatraz checks the accuracy target on the corpus (not the
// speed, which only the benchmarks show): the local engine finds every seeded
// value, and at least as many as alcatraz.
func TestRecallAtLeastAlcatraz(t *testing.T) {
	c := corpus.Generate(7, 3000)
	l, err := deid.NewLocal(deid.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, _, err := l.Deidentify(ctx, &deid.Request{Table: &deid.Table{Headers: c.Headers, Rows: c.Rows}})
	if err != nil {
		t.Fatal(err)
	}
	found, total, byType := c.Recall(out.Rows)
	afound, _, abyType := c.Recall(alcatrazjsonl.New().Table(c.Rows, 0))
	t.Logf("local %d/%d %v; alcatraz %d/%d %v", found, total, byType, afound, total, abyType)
	fp, clean := c.FalsePositives(out.Rows)
	afp, _ := c.FalsePositives(alcatrazjsonl.New().Table(c.Rows, 0))
	t.Logf("clean string cells changed: local %d, alcatraz %d, of %d", fp, afp, clean)
	// The corpus's clean text holds dates, prices, versions and ids that are
	// not PII; the local engine must leave them alone.
	if fp != 0 {
		t.Errorf("local engine changed %d clean cells", fp)
	}
	if found != total {
		t.Errorf("local recall %d/%d, want all seeded values masked; by type %v", found, total, byType)
	}
	if found < afound {
		t.Errorf("local recall %d below alcatraz %d", found, afound)
	}
}
