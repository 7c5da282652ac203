// Package envflag defines command-line flags whose defaults come from
// environment variables, so every setting of the service can be given
// either way (a flag wins over its variable).
package envflag

import (
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Set wraps a flag.FlagSet and remembers each flag's variable, for usage
// text and for errors that name both spellings.
type Set struct {
	*flag.FlagSet
	errs []string
}

// New returns a Set named after the program.
func New(name string) *Set {
	return &Set{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError)}
}

func (s *Set) usage(env, text string) string {
	return fmt.Sprintf("%s (env %s)", text, env)
}

// String defines a string flag defaulting to $env, else def.
func (s *Set) String(name, env, def, text string) *string {
	if v, ok := os.LookupEnv(env); ok {
		def = v
	}
	return s.FlagSet.String(name, def, s.usage(env, text))
}

// Int defines an int flag defaulting to $env, else def.
func (s *Set) Int(name, env string, def int, text string) *int {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not an integer", env, v))
		} else {
			def = n
		}
	}
	return s.FlagSet.Int(name, def, s.usage(env, text))
}

// Float defines a float flag defaulting to $env, else def.
func (s *Set) Float(name, env string, def float64, text string) *float64 {
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not a number", env, v))
		} else {
			def = n
		}
	}
	return s.FlagSet.Float64(name, def, s.usage(env, text))
}

// Bool defines a bool flag defaulting to $env, else def.
func (s *Set) Bool(name, env string, def bool, text string) *bool {
	if v, ok := os.LookupEnv(env); ok {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not a boolean", env, v))
		} else {
			def = b
		}
	}
	return s.FlagSet.Bool(name, def, s.usage(env, text))
}

// Duration defines a duration flag ("15s", "500ms") defaulting to $env, else def.
func (s *Set) Duration(name, env string, def time.Duration, text string) *time.Duration {
	if v, ok := os.LookupEnv(env); ok {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			s.errs = append(s.errs, fmt.Sprintf("%s=%q: not a duration (e.g. 15s)", env, v))
		} else {
			def = d
		}
	}
	return s.FlagSet.Duration(name, def, s.usage(env, text))
}

// Parse parses args; a malformed environment variable is an error too.
func (s *Set) Parse(args []string) error {
	if len(s.errs) > 0 {
		return fmt.Errorf("bad environment: %s", strings.Join(s.errs, "; "))
	}
	return s.FlagSet.Parse(args)
}

// Weights parses "a=3,b,c=1" into {a:3, b:1, c:1}.
func Weights(spec string) (map[string]int, error) {
	out := map[string]int{}
	for _, part := range strings.Split(spec, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, found := strings.Cut(part, "=")
		n := 1
		if found {
			var err error
			if n, err = strconv.Atoi(strings.TrimSpace(w)); err != nil || n <= 0 {
				return nil, fmt.Errorf("%q: weight must be a positive integer", part)
			}
		}
		out[strings.TrimSpace(name)] = n
	}
	return out, nil
}

// List reads a comma-separated list, trimming each item and dropping
// blanks ("a, b,,c" is [a b c]).
func List(spec string) []string {
	var out []string
	for _, f := range strings.Split(spec, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
