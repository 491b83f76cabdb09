package config

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Redacted is printed in place of a secret value.
const Redacted = "[redacted]"

// Secret holds a secret read from a file. It never prints its value: String,
// GoString, Format and JSON/YAML marshalling all give Redacted.
type Secret struct{ v []byte }

// NewSecret wraps b (the caller should not keep b).
func NewSecret(b []byte) Secret { return Secret{v: b} }

// Reveal returns the secret bytes, for the one place that uses them.
func (s Secret) Reveal() []byte { return s.v }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return len(s.v) == 0 }

func (Secret) String() string               { return Redacted }
func (Secret) GoString() string             { return Redacted }
func (Secret) Format(f fmt.State, _ rune)   { _, _ = f.Write([]byte(Redacted)) }
func (Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }
func (Secret) MarshalYAML() (any, error)    { return Redacted, nil }
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }
func (s *Secret) UnmarshalText(_ []byte) error {
	return fmt.Errorf("secrets are read from files, not from configuration text")
}

// Render prints the effective configuration as YAML-like "key: value" lines in
// declaration order, with secret-bearing keys redacted. Paths to secret files are
// shown (they are not secret).
func (c *Config) Render() string {
	var b strings.Builder
	for _, k := range Keys() {
		v := field(c, k)
		fmt.Fprintf(&b, "%s: %s\n", k.Name, renderValue(k, v))
	}
	return b.String()
}

func renderValue(k Key, v reflect.Value) string {
	if secretLike.MatchString(k.Name) {
		return Redacted
	}
	switch {
	case v.Type() == reflect.TypeOf(time.Duration(0)):
		return time.Duration(v.Int()).String()
	case v.Kind() == reflect.String:
		return fmt.Sprintf("%q", v.String())
	case v.Kind() == reflect.Slice:
		parts := make([]string, v.Len())
		for i := range parts {
			parts[i] = fmt.Sprintf("%q", v.Index(i).String())
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case v.Kind() == reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, mk := range v.MapKeys() {
			keys = append(keys, mk.String())
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, mk := range keys {
			parts[i] = fmt.Sprintf("%q: %q", mk, v.MapIndex(reflect.ValueOf(mk)).String())
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v.Interface())
}

// Markdown documents every key: name, environment variable, type, default, meaning.
// docs/configuration.md embeds it; a test keeps the two equal.
func Markdown() string {
	def := Default()
	var b strings.Builder
	b.WriteString("| key | environment | type | default | meaning |\n|---|---|---|---|---|\n")
	for _, k := range Keys() {
		d := renderValue(k, field(&def, k))
		if d == `""` || d == "[]" || d == "{}" {
			d = "—"
		} else {
			d = "`" + strings.ReplaceAll(d, "|", "\\|") + "`"
		}
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s |\n", k.Name, k.Env, k.Type, d, k.Doc)
	}
	return b.String()
}
