package terraform_test

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"gopkg.in/yaml.v3"
)

type cloudBuild struct {
	Substitutions map[string]string `yaml:"substitutions"`
	Options       struct {
		MachineType string   `yaml:"machineType"`
		Logging     string   `yaml:"logging"`
		Env         []string `yaml:"env"`
	} `yaml:"options"`
	Timeout string `yaml:"timeout"`
	Steps   []struct {
		ID         string   `yaml:"id"`
		Name       string   `yaml:"name"`
		Dir        string   `yaml:"dir"`
		Entrypoint string   `yaml:"entrypoint"`
		Env        []string `yaml:"env"`
		Args       []string `yaml:"args"`
	} `yaml:"steps"`
}

func loadCloudBuild(t *testing.T) *cloudBuild {
	t.Helper()
	var cb cloudBuild
	dec := yaml.NewDecoder(strings.NewReader(string(readFile(t, "cloudbuild.yaml"))))
	dec.KnownFields(true)
	if err := dec.Decode(&cb); err != nil {
		t.Fatalf("cloudbuild.yaml: %v", err)
	}
	return &cb
}

// TestCloudBuildMatchesTerraform checks that cloudbuild.yaml builds the
// Dockerfile that exists, pushes to the repository terraform/ creates, and
// gives Terraform every variable that has no default, under names
// terraform/variables.tf declares.
func TestCloudBuildMatchesTerraform(t *testing.T) {
	t.Parallel()
	cb := loadCloudBuild(t)
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
		// The image comes from the push step's digest, exported in the
		// script (deploy by digest).
		script := strings.Join(s.Args, "\n")
		if strings.Contains(script, "TF_VAR_image=$$(cat /workspace/image-digest)") && strings.Contains(script, "export TF_VAR_image") {
			tfVars["image"] = true
		}
		for _, want := range []string{"terraform validate", "terraform test -filter=tests/plan.tftest.hcl"} {
			if !strings.Contains(script, want) {
				t.Errorf("terraform step does not run %q before it applies", want)
			}
		}
	}
	if diff := cmp.Diff([]string{"pull-cache", "builder", "test", "build", "push", "terraform"}, ids); diff != "" {
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

// machineMemoryGB is the memory of Cloud Build's default-pool machine
// types (Cloud Build's pricing page).
var machineMemoryGB = map[string]int{
	"E2_MEDIUM":     4,
	"E2_HIGHCPU_8":  8,
	"E2_HIGHCPU_32": 32,
	"N1_HIGHCPU_8":  7,
	"N1_HIGHCPU_32": 28,
}

// clangGB is the peak memory of one clang process compiling ZetaSQL, and
// headroomGB what the Go toolchain, the linker and Docker need besides.
const clangGB, headroomGB = 5, 8

// TestCloudBuildFitsTheCompile checks finding 10 of issue 12: the machine
// holds -p ZetaSQL compiles at once; builder, test and build share one
// compile (same Dockerfile, same build args, same cache, test on top of the
// build stage, every go command with the same GOFLAGS); the builder image
// is the next build's --cache-from; Terraform deploys the pushed digest.
func TestCloudBuildFitsTheCompile(t *testing.T) {
	t.Parallel()
	cb := loadCloudBuild(t)
	p, err := strconv.Atoi(cb.Substitutions["_GO_BUILD_P"])
	if err != nil || p < 1 {
		t.Fatalf("_GO_BUILD_P = %q, want a positive number", cb.Substitutions["_GO_BUILD_P"])
	}
	mem, ok := machineMemoryGB[cb.Options.MachineType]
	if !ok {
		t.Fatalf("machineType %q: memory unknown to this test", cb.Options.MachineType)
	}
	if need := clangGB*p + headroomGB; mem < need {
		t.Errorf("machineType %s has %d GB; -p %d needs about %d GB", cb.Options.MachineType, mem, p, need)
	}

	cache := "${_REGION}-docker.pkg.dev/${PROJECT_ID}/${_REPOSITORY}/functions-build:latest"
	var builds [][]string
	targets := map[string]string{}
	for _, s := range cb.Steps {
		if len(s.Args) == 0 || s.Args[0] != "build" {
			continue
		}
		var shared []string
		for i := 0; i < len(s.Args); i++ {
			switch s.Args[i] {
			case "--build-arg", "--cache-from", "-f":
				shared = append(shared, s.Args[i]+" "+s.Args[i+1])
				i++
			case "--target":
				targets[s.ID] = s.Args[i+1]
				i++
			}
		}
		slices.Sort(shared)
		builds = append(builds, shared)
		if !slices.Contains(shared, "--build-arg GO_BUILD_P=${_GO_BUILD_P}") {
			t.Errorf("step %s does not pass GO_BUILD_P", s.ID)
		}
		if !slices.Contains(shared, "--cache-from "+cache) {
			t.Errorf("step %s does not build --cache-from the builder image", s.ID)
		}
	}
	if len(builds) != 3 {
		t.Fatalf("want 3 docker build steps (builder, test, build), got %d", len(builds))
	}
	for i := 1; i < len(builds); i++ {
		if diff := cmp.Diff(builds[0], builds[i]); diff != "" {
			t.Errorf("docker build steps differ in Dockerfile, build args or cache, so they cannot share one compile (-builder, +other):\n%s", diff)
		}
	}
	if diff := cmp.Diff(map[string]string{"builder": "build", "test": "test"}, targets); diff != "" {
		t.Errorf("docker build targets (-want, +got):\n%s", diff)
	}

	var push, tf string
	for _, s := range cb.Steps {
		switch s.ID {
		case "push":
			push = strings.Join(s.Args, "\n")
		case "terraform":
			tf = strings.Join(append(append([]string(nil), s.Env...), s.Args...), "\n")
		}
	}
	for _, want := range []string{"docker push " + cache, "{{index .RepoDigests 0}}", "> /workspace/image-digest", "@sha256:"} {
		if !strings.Contains(push, want) {
			t.Errorf("push step lacks %q", want)
		}
	}
	if strings.Contains(tf, "functions:${BUILD_ID}") {
		t.Error("terraform step deploys the image by tag; it must use the pushed digest")
	}

	// The Dockerfile: one GOFLAGS for every go command, ZetaSQL compiled
	// before the source is copied in, test built on the build stage.
	df := string(readFile(t, "cmd/functions/Dockerfile"))
	if !regexp.MustCompile(`(?m)^ENV .*GOFLAGS="-trimpath -p=\$\{GO_BUILD_P\}"`).MatchString(df) {
		t.Error(`Dockerfile: want ENV GOFLAGS="-trimpath -p=${GO_BUILD_P}" in the build stage`)
	}
	if !regexp.MustCompile(`(?m)^FROM build AS test$`).MatchString(df) {
		t.Error("Dockerfile: the test stage must be FROM build, to reuse its compile")
	}
	for _, line := range regexp.MustCompile(`(?m)^RUN .*\bgo (build|test|vet)\b.*$`).FindAllString(df, -1) {
		if strings.Contains(line, "-trimpath") || regexp.MustCompile(`\s-p[= ]`).MatchString(line) || strings.Contains(line, "flags") {
			t.Errorf("Dockerfile %q sets its own flags; GOFLAGS must be the only source so that every go command shares the cache", line)
		}
	}
	zeta, copyAll := strings.Index(df, "RUN go build github.com/goccy/go-zetasql"), strings.Index(df, "COPY . .")
	if zeta < 0 || copyAll < 0 || zeta > copyAll {
		t.Error("Dockerfile: compile github.com/goccy/go-zetasql before COPY . ., so that its layer depends on go.mod and go.sum only")
	}
}
