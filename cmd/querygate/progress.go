package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// progress shows a waiting query's status and elapsed time on stderr: one
// line redrawn every second on a terminal, else a plain line each time the
// status changes (for logs and CI).
type progress struct {
	w     io.Writer
	now   func() time.Time
	start time.Time
	tty   bool

	mu        sync.Mutex
	line      string // id, status and approvers, without the time
	last      string // the status line last printed (plain mode)
	drawn     bool
	done      chan struct{}
	ticking   bool
	stopped   bool
	stopOnce  sync.Once
	tickerEnd sync.WaitGroup
}

func newProgress(w io.Writer, now func() time.Time) *progress {
	return &progress{w: w, now: now, start: now(), tty: isTerminal(w), done: make(chan struct{})}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (p *progress) elapsed() time.Duration { return p.now().Sub(p.start) }

// update records the session's current state.
func (p *progress) update(id, status string, approvers []string) {
	line := fmt.Sprintf("%s  %s", id, status)
	if len(approvers) > 0 {
		line += "  asked: " + strings.Join(approvers, ", ")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	p.line = line
	if !p.tty {
		if line != p.last {
			p.last = line
			fmt.Fprintf(p.w, "%s  (after %s)\n", clean(line), p.elapsed().Round(time.Second))
		}
		return
	}
	p.drawLocked()
	if !p.ticking {
		p.ticking = true
		p.tickerEnd.Add(1)
		go p.tick()
	}
}

func (p *progress) tick() {
	defer p.tickerEnd.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
			p.mu.Lock()
			if !p.stopped {
				p.drawLocked()
			}
			p.mu.Unlock()
		}
	}
}

// drawLocked redraws the terminal line: carriage return, the line, clear
// to the end of the line.
func (p *progress) drawLocked() {
	fmt.Fprintf(p.w, "\r%s  %6s\x1b[K", clean(p.line), p.elapsed().Round(time.Second))
	p.drawn = true
}

// stop ends the live line (leaving it on screen) before other output.
func (p *progress) stop() {
	p.stopOnce.Do(func() {
		p.mu.Lock()
		p.stopped = true
		drawn := p.drawn
		p.mu.Unlock()
		close(p.done)
		p.tickerEnd.Wait()
		if drawn {
			fmt.Fprintln(p.w)
		}
	})
}
