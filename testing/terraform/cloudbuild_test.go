package terraform_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

// TestCloudBuildMatchesTerraform checks that cloudbuild.yaml builds the
// Dockerfile that exists, pushes to the repository terraform/ creates, and
// gives Terraform every variable that has no default, under names
// terraform/variables.tf declares.
func TestCloudBuildMatchesTerraform(t *testing.T) {
	t.Parallel()
	var cb struct {
		Substitutions map[string]string `yaml:"substitutions"`
		Options       struct {
			MachineType string `yaml:"machineType"`
		} `yaml:"options"`
		Timeout string `yaml:"timeout"`
		Steps   []struct {
			ID   string   `yaml:"id"`
			Name string   `yaml:"name"`
			Dir  string   `yaml:"dir"`
			Env  []string `yaml:"env"`
			Args []string `yaml:"args"`
		} `yaml:"steps"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(readFile(t, "cloudbuild.yaml"))))
	if err := dec.Decode(&cb); err != nil {
		t.Fatalf("cloudbuild.yaml: %v", err)
	}
	if cb.Options.MachineType != "E2_HIGHCPU_8" {
		t.Errorf("machineType = %q, want E2_HIGHCPU_8 (ZetaSQL takes ~15 min on 2 cores)", cb.Options.MachineType)
	}

	m := loadModule(t)
	repo, diags := m.resource(t, "google_artifact_registry_repository.images").Body.Attributes["repository_id"].Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatal("repository_id is not a literal")
	}
	if got := cb.Substitutions["_REPOSITORY"]; got != repo.AsString() {
		t.Errorf("_REPOSITORY = %q, want terraform's repository %q", got, repo.AsString())
	}

	var ids []string
	tfVars := map[string]bool{}
	for _, s := range cb.Steps {
		ids = append(ids, s.ID)
		for i, a := range s.Args {
			if a == "-f" && i+1 < len(s.Args) {
				if _, err := os.Stat(filepath.Join(root, s.Args[i+1])); err != nil {
					t.Errorf("step %s builds %s: %v", s.ID, s.Args[i+1], err)
				}
			}
		}
		if s.ID != "terraform" {
			continue
		}
		if s.Dir != "terraform" {
			t.Errorf("terraform step runs in %q, want terraform", s.Dir)
		}
		for _, e := range s.Env {
			name, _, _ := strings.Cut(e, "=")
			if v, ok := strings.CutPrefix(name, "TF_VAR_"); ok {
				tfVars[v] = true
			}
		}
	}
	if diff := cmp.Diff([]string{"test", "build", "push", "terraform"}, ids); diff != "" {
		t.Errorf("cloudbuild.yaml steps (-want, +got):\n%s", diff)
	}
	for v := range tfVars {
		if _, ok := m.variables[v]; !ok {
			t.Errorf("cloudbuild.yaml sets TF_VAR_%s, which terraform/ does not declare", v)
		}
	}
	for name, b := range m.variables {
		if _, hasDefault := b.Body.Attributes["default"]; !hasDefault && !tfVars[name] {
			t.Errorf("variable %s has no default and cloudbuild.yaml does not set TF_VAR_%s", name, name)
		}
	}
}
