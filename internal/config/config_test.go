package config

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

type inner struct {
	Host string `env:"HOST, default=localhost"`
}

type sample struct {
	Name    string        `env:"NAME"`
	Wait    time.Duration `env:"WAIT, default=30s"`
	Count   int           `env:"COUNT, default=3"`
	On      bool          `env:"ON"`
	Members []string      `env:"MEMBERS"`
	Inner   inner
}

func TestProcess(t *testing.T) {
	t.Parallel()
	var got sample
	err := Process(MapLookuper(map[string]string{"NAME": "x", "ON": "true", "MEMBERS": "a@x, b@x", "COUNT": "7"}), &got)
	if err != nil {
		t.Fatal(err)
	}
	want := sample{Name: "x", Wait: 30 * time.Second, Count: 7, On: true, Members: []string{"a@x", "b@x"}, Inner: inner{Host: "localhost"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want, +got):\n%s", diff)
	}
}

func TestProcessReportsEveryProblem(t *testing.T) {
	t.Parallel()
	var got sample
	err := Process(MapLookuper(map[string]string{"WAIT": "soon", "COUNT": "many"}), &got)
	if err == nil || !strings.Contains(err.Error(), "WAIT") || !strings.Contains(err.Error(), "COUNT") {
		t.Errorf("err = %v, want both WAIT and COUNT named", err)
	}
}
