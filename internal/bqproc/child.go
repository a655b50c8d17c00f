package bqproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/querygate/querygate/internal/bqlocal"
)

// ServeChild is the child side: it serves the emulator described by opts on
// a free loopback port, requiring the token the parent put in TokenEnv,
// prints ReadyPrefix and its endpoint on stdout, and returns when ctx ends
// or stdin closes (the parent went away).
func ServeChild(ctx context.Context, opts bqlocal.Options, stdin io.Reader, stdout io.Writer) error {
	token := os.Getenv(TokenEnv)
	if len(token) < 32 {
		return errors.New("bqproc: the child needs its token from the parent (" + TokenEnv + ")")
	}
	opts.Token = token
	opts.Addr = "127.0.0.1:0"
	// The parent checked the Host header against the public names and
	// forwards it unchanged (the emulator's self links name it); only the
	// parent holds this child's token.
	opts.AllowHost = func(string) bool { return true }
	srv, err := bqlocal.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	if _, err := fmt.Fprintln(stdout, ReadyPrefix+srv.Endpoint()); err != nil {
		return err
	}
	parentGone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(parentGone)
	}()
	select {
	case <-ctx.Done():
	case <-parentGone:
	}
	return nil
}
