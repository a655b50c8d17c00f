// Package config loads struct configuration from environment variables
// through a Lookuper, so tests inject values instead of calling os.Setenv.
// Fields carry tags of the form `env:"NAME"` or `env:"NAME, default=VALUE"`;
// nested structs are walked. Supported kinds: string, bool, ints, durations
// and comma-separated string slices.
package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Lookuper finds the value of a variable.
type Lookuper func(key string) (string, bool)

// OSLookuper reads the process environment.
func OSLookuper() Lookuper { return os.LookupEnv }

// MapLookuper reads a map (tests).
func MapLookuper(m map[string]string) Lookuper {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// Process fills the struct that ptr points to. Every problem is reported,
// joined.
func Process(l Lookuper, ptr any) error {
	v := reflect.ValueOf(ptr)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return errors.New("config: Process needs a pointer to a struct")
	}
	return process(l, v.Elem())
}

func process(l Lookuper, v reflect.Value) error {
	var errs []error
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		tag, ok := f.Tag.Lookup("env")
		if !ok {
			if fv.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
				errs = append(errs, process(l, fv))
			}
			continue
		}
		name, def, hasDef := parseTag(tag)
		val, found := l(name)
		if !found || val == "" {
			if !hasDef {
				continue
			}
			val = def
		}
		if err := set(fv, val); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

func parseTag(tag string) (name, def string, hasDef bool) {
	parts := strings.SplitN(tag, ",", 2)
	name = strings.TrimSpace(parts[0])
	if len(parts) == 2 {
		opt := strings.TrimSpace(parts[1])
		if v, ok := strings.CutPrefix(opt, "default="); ok {
			return name, v, true
		}
	}
	return name, "", false
}

func set(v reflect.Value, s string) error {
	if v.Type() == reflect.TypeOf(time.Duration(0)) {
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("not a duration (e.g. 30s, 15m): %q", s)
		}
		v.SetInt(int64(d))
		return nil
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("not a boolean: %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		v.SetInt(n)
	case reflect.Slice:
		if v.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported slice type %s", v.Type())
		}
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		v.Set(reflect.ValueOf(out))
	default:
		return fmt.Errorf("unsupported type %s", v.Type())
	}
	return nil
}
