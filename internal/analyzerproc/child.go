package analyzerproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/querygate/querygate/internal/sqlscan"
)

// WorkerCommand is the hidden subcommand of the querygate binaries that
// runs ServeWorker; a Pool's Command is the executable and this.
const WorkerCommand = "internal-analyzer"

// ServeWorker is the worker side: it announces itself on stdout, then
// analyzes one request at a time from stdin, asking the parent for table
// schemas, until stdin closes (the parent went away or retired it). It
// writes nothing but frames to stdout.
func ServeWorker(ctx context.Context, stdin io.Reader, stdout io.Writer) error {
	return serve(ctx, stdin, stdout, sqlscan.Analyze)
}

type analyzeFunc func(context.Context, string, sqlscan.Options) (*sqlscan.Analysis, error)

func serve(ctx context.Context, stdin io.Reader, stdout io.Writer, analyze analyzeFunc) error {
	in := bufio.NewReader(stdin)
	out := bufio.NewWriter(stdout)
	send := func(v any) error {
		if err := writeFrame(out, v); err != nil {
			return err
		}
		return out.Flush()
	}
	if err := send(fromWorker{Hello: &hello{Version: protocolVersion}}); err != nil {
		return fmt.Errorf("analyzer worker: hello: %w", err)
	}
	for {
		var req toWorker
		if err := readFrame(in, &req); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("analyzer worker: read request: %w", err)
		}
		if req.Analyze == nil {
			return errors.New("analyzer worker: expected an analyze request")
		}
		cat := &remoteCatalog{in: in, send: send}
		a, err := analyze(ctx, req.Analyze.SQL, sqlscan.Options{
			DefaultProject: req.Analyze.DefaultProject, DefaultDataset: req.Analyze.DefaultDataset, Catalog: cat,
		})
		if cat.broken != nil {
			return fmt.Errorf("analyzer worker: %w", cat.broken)
		}
		res := &analyzeResult{Analysis: a}
		if err != nil {
			res = &analyzeResult{Error: encodeError(err)}
		}
		if err := send(fromWorker{Result: res}); err != nil {
			return fmt.Errorf("analyzer worker: send result: %w", err)
		}
	}
}

// remoteCatalog answers sqlscan's Catalog calls by asking the parent.
type remoteCatalog struct {
	in     io.Reader
	send   func(any) error
	broken error // the pipe failed: the worker must exit
}

func (c *remoteCatalog) Table(_ context.Context, ref sqlscan.TableRef) (*sqlscan.TableMeta, error) {
	if c.broken != nil {
		return nil, c.broken
	}
	if err := c.send(fromWorker{Table: &tableRequest{Ref: ref}}); err != nil {
		c.broken = err
		return nil, err
	}
	var rep toWorker
	if err := readFrame(c.in, &rep); err != nil {
		c.broken = err
		return nil, err
	}
	if rep.Table == nil {
		c.broken = errors.New("expected a table reply")
		return nil, c.broken
	}
	switch {
	case rep.Table.NotFound:
		return nil, &remoteError{msg: rep.Table.Error, is: sqlscan.ErrTableNotFound}
	case rep.Table.Error != "":
		return nil, &remoteError{msg: rep.Table.Error}
	}
	// A nil Meta without an error is passed on as the parent's Catalog
	// answered it, so that sqlscan treats it as it would in process.
	return rep.Table.Meta, nil
}
