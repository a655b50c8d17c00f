package setup

import (
	"errors"
	"fmt"
	"os"

	"github.com/querygate/querygate/internal/deid"
	"github.com/querygate/querygate/internal/policy"
)

// ErrConfig marks a failure that a retry cannot mend: a missing or invalid
// policy or masking file, or a component whose ports are missing.
var ErrConfig = errors.New("configuration")

// LoadPolicy reads the policy file at path; empty returns the built-in
// default policy. Both modes load the policy only through here.
func LoadPolicy(path string) (*policy.Policy, error) {
	if path == "" {
		return policy.Default(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read policy: %w", ErrConfig, err)
	}
	pol, err := policy.Load(b, path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return pol, nil
}

// LoadMasking reads the masking config at path; empty returns the built-in
// default. Both modes load the masking config only through here.
func LoadMasking(path string) (*deid.Config, error) {
	if path == "" {
		return deid.DefaultConfig(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: read masking config: %w", ErrConfig, err)
	}
	cfg, err := deid.LoadConfig(b)
	if err != nil {
		return nil, fmt.Errorf("%w: masking config %s: %w", ErrConfig, path, err)
	}
	return cfg, nil
}
