package mail

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// mailFile is the sink's JSON Lines file: one stored message per line,
// appended and synced before the SMTP transaction is acknowledged. When it
// holds more than twice the sink's limit it is rewritten with only the kept
// messages (write to a temporary file, then rename), so it stays bounded.
type mailFile struct {
	path  string
	lines int // lines in the file now
}

// fileRecord is one line. Anchors keep the link texts the page shows.
type fileRecord struct {
	Received
	Anchors []anchor `json:"anchors,omitempty"`
}

// maxLineBytes bounds one line on load; a message is at most
// maxMessageBytes and its JSON form a few times that.
const maxLineBytes = 4*maxMessageBytes + 1<<20

// openMailFile loads the newest limit messages of path (creating its
// directory 0700), and returns the file with them. A line that does not
// parse is skipped: it is the torn tail of a write cut short by a crash,
// whose SMTP transaction was therefore never acknowledged.
func openMailFile(path string, limit int) (*mailFile, []Received, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, nil, fmt.Errorf("mailbox dir: %w", err)
	}
	f := &mailFile{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return f, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read mailbox file: %w", err)
	}
	var msgs []Received
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	for sc.Scan() {
		f.lines++
		var rec fileRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil || rec.To == "" {
			continue
		}
		r := rec.Received
		r.anchors = rec.Anchors
		if r.Links == nil {
			r.Links = []string{}
		}
		msgs = append(msgs, r)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read mailbox file: %w", err)
	}
	if over := len(msgs) - limit; over > 0 {
		msgs = msgs[over:]
	}
	return f, msgs, nil
}

func encodeRecords(msgs []Received) ([]byte, error) {
	var buf bytes.Buffer
	for _, m := range msgs {
		line, err := json.Marshal(fileRecord{Received: m, Anchors: m.anchors})
		if err != nil {
			return nil, err
		}
		buf.Write(line)
		buf.WriteByte('\n')
	}
	return buf.Bytes(), nil
}

// append makes batch durable. all is every message the sink will hold
// after it, oldest first; when the file has grown past twice limit it is
// rewritten with the newest limit of them instead.
func (f *mailFile) append(batch, all []Received, limit int) error {
	if f.lines+len(batch) > 2*limit {
		if over := len(all) - limit; over > 0 {
			all = all[over:]
		}
		return f.rewrite(all)
	}
	b, err := encodeRecords(batch)
	if err != nil {
		return err
	}
	fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	f.lines += len(batch)
	return nil
}

func (f *mailFile) rewrite(msgs []Received) error {
	b, err := encodeRecords(msgs)
	if err != nil {
		return err
	}
	tmp := f.path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := fh.Write(b); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, f.path); err != nil {
		return err
	}
	f.lines = len(msgs)
	return nil
}
