package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"gopkg.in/yaml.v3"
)

// FieldError is one problem with one key.
type FieldError struct {
	Key     string // dotted key, e.g. server.listen
	Source  string // "file:LINE", "env COSTWARDEN_...", "flag --x", or "" for validation
	Message string
}

func (e FieldError) Error() string {
	if e.Source != "" {
		return fmt.Sprintf("%s (%s): %s", e.Key, e.Source, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Key, e.Message)
}

// Errors is a list of field errors; it is returned as one error.
type Errors []FieldError

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Sources are the inputs of Load, lowest precedence first.
type Sources struct {
	File    string            // path of a YAML file; "" for none
	Environ []string          // os.Environ(); only COSTWARDEN_* entries are read
	Flags   map[string]string // config key -> value, for flags the user set
}

// Key describes one configuration key.
type Key struct {
	Name string // dotted name
	Env  string // environment variable
	Type string
	Doc  string
	path []int
}

// Keys lists every configuration key, in declaration order.
func Keys() []Key {
	var keys []Key
	var walk func(t reflect.Type, prefix string, path []int)
	walk = func(t reflect.Type, prefix string, path []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name := strings.Split(f.Tag.Get("yaml"), ",")[0]
			full := name
			if prefix != "" {
				full = prefix + "." + name
			}
			p := append(append([]int(nil), path...), i)
			if f.Type.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Duration(0)) {
				walk(f.Type, full, p)
				continue
			}
			keys = append(keys, Key{Name: full, Env: envName(full), Type: typeName(f.Type), Doc: f.Tag.Get("doc"), path: p})
		}
	}
	walk(reflect.TypeOf(Config{}), "", nil)
	return keys
}

func typeName(t reflect.Type) string {
	switch {
	case t == reflect.TypeOf(time.Duration(0)):
		return "duration"
	case t.Kind() == reflect.Slice:
		return "list of strings"
	case t.Kind() == reflect.Map:
		return "map of strings"
	case t.Kind() == reflect.Float64:
		return "number"
	case t.Kind() == reflect.Int, t.Kind() == reflect.Int64:
		return "integer"
	}
	return t.Kind().String()
}

// envName maps server.tls.certFile to COSTWARDEN_SERVER_TLS_CERT_FILE.
func envName(key string) string {
	var b strings.Builder
	b.WriteString("COSTWARDEN_")
	prev := rune(0)
	for _, r := range key {
		switch {
		case r == '.':
			b.WriteByte('_')
		case unicode.IsUpper(r) && prev != 0 && prev != '.' && !unicode.IsUpper(prev):
			b.WriteByte('_')
			b.WriteRune(r)
		default:
			b.WriteRune(unicode.ToUpper(r))
		}
		prev = r
	}
	return b.String()
}

func keyIndex() map[string]Key {
	m := map[string]Key{}
	for _, k := range Keys() {
		m[k.Name] = k
	}
	return m
}

// secretLike matches key names that would hold a secret inline.
var secretLike = regexp.MustCompile(`(?i)(password|secret|token|apikey|privatekey|credential)s?$`)

// Load builds the configuration from defaults, then the file, then the environment,
// then flags, and validates it. All problems are reported together as Errors.
func Load(src Sources) (Config, error) {
	cfg := Default()
	idx := keyIndex()
	var errs Errors
	if src.File != "" {
		errs = append(errs, loadFile(&cfg, idx, src.File)...)
	}
	for _, kv := range src.Environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, "COSTWARDEN_") {
			continue
		}
		if name == "COSTWARDEN_TOKEN" || name == "COSTWARDEN_CONFIG" {
			continue // read by the CLI client and by main, not configuration keys
		}
		k, found := findEnv(idx, name)
		if !found {
			errs = append(errs, FieldError{Key: name, Source: "env", Message: unknownEnvMessage(name)})
			continue
		}
		if err := setString(&cfg, k, val); err != nil {
			errs = append(errs, FieldError{Key: k.Name, Source: "env " + name, Message: err.Error()})
		}
	}
	flagKeys := make([]string, 0, len(src.Flags))
	for k := range src.Flags {
		flagKeys = append(flagKeys, k)
	}
	sort.Strings(flagKeys)
	for _, name := range flagKeys {
		k, ok := idx[name]
		if !ok {
			errs = append(errs, FieldError{Key: name, Source: "flag", Message: "not a configuration key"})
			continue
		}
		if err := setString(&cfg, k, src.Flags[name]); err != nil {
			errs = append(errs, FieldError{Key: k.Name, Source: "flag", Message: err.Error()})
		}
	}
	cfg.resolvePaths()
	errs = append(errs, cfg.Validate()...)
	if len(errs) > 0 {
		return cfg, errs
	}
	return cfg, nil
}

func unknownEnvMessage(name string) string {
	if secretLike.MatchString(name) {
		return "inline secrets are not accepted; put the secret in a file and set the matching *_FILE key"
	}
	return "not a configuration key (see docs/configuration.md)"
}

func findEnv(idx map[string]Key, env string) (Key, bool) {
	for _, k := range idx {
		if k.Env == env {
			return k, true
		}
	}
	return Key{}, false
}

// resolvePaths fills path defaults that depend on dataDir.
func (c *Config) resolvePaths() {
	if c.DataDir != "" {
		c.DataDir = filepath.Clean(c.DataDir)
	}
	if c.Storage.SQLite.Path == "" && c.DataDir != "" {
		c.Storage.SQLite.Path = filepath.Join(c.DataDir, "costwarden.db")
	}
	if c.Keys.File == "" && c.DataDir != "" {
		c.Keys.File = filepath.Join(c.DataDir, "costwarden.key")
	}
}

func loadFile(cfg *Config, idx map[string]Key, path string) Errors {
	b, err := os.ReadFile(path)
	if err != nil {
		return Errors{{Key: "--config", Message: fmt.Sprintf("cannot read configuration file: %v", err)}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return Errors{{Key: "--config", Source: path, Message: fmt.Sprintf("not valid YAML: %v", err)}}
	}
	if len(root.Content) == 0 {
		return nil // empty file
	}
	var errs Errors
	var walk func(n *yaml.Node, prefix string)
	walk = func(n *yaml.Node, prefix string) {
		if n.Kind != yaml.MappingNode {
			errs = append(errs, FieldError{Key: orRoot(prefix), Source: fmt.Sprintf("%s:%d", path, n.Line), Message: "expected a mapping of keys"})
			return
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			kn, vn := n.Content[i], n.Content[i+1]
			full := kn.Value
			if prefix != "" {
				full = prefix + "." + kn.Value
			}
			where := fmt.Sprintf("%s:%d", path, kn.Line)
			if k, ok := idx[full]; ok {
				if err := setNode(cfg, k, vn); err != nil {
					errs = append(errs, FieldError{Key: full, Source: where, Message: err.Error()})
				}
				continue
			}
			if hasPrefix(idx, full) {
				walk(vn, full)
				continue
			}
			msg := "unknown key"
			if secretLike.MatchString(kn.Value) {
				msg = fmt.Sprintf("inline secrets are not accepted; put the secret in a file and set %sFile to its path", kn.Value)
			} else if s := suggest(idx, full); s != "" {
				msg = fmt.Sprintf("unknown key (did you mean %s?)", s)
			}
			errs = append(errs, FieldError{Key: full, Source: where, Message: msg})
		}
	}
	walk(root.Content[0], "")
	return errs
}

func orRoot(s string) string {
	if s == "" {
		return "(top level)"
	}
	return s
}

func hasPrefix(idx map[string]Key, prefix string) bool {
	for name := range idx {
		if strings.HasPrefix(name, prefix+".") {
			return true
		}
	}
	return false
}

// suggest proposes a known key differing only in case.
func suggest(idx map[string]Key, key string) string {
	for name := range idx {
		if strings.EqualFold(name, key) {
			return name
		}
	}
	return ""
}

func field(cfg *Config, k Key) reflect.Value {
	v := reflect.ValueOf(cfg).Elem()
	for _, i := range k.path {
		v = v.Field(i)
	}
	return v
}

func setNode(cfg *Config, k Key, n *yaml.Node) error {
	f := field(cfg, k)
	switch f.Kind() {
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return errors.New("expected a list")
		}
		var out []string
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return errors.New("expected a list of strings")
			}
			out = append(out, c.Value)
		}
		f.Set(reflect.ValueOf(out))
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			return errors.New("expected a mapping of strings")
		}
		m := map[string]string{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i+1].Kind != yaml.ScalarNode {
				return fmt.Errorf("%s: expected a string", n.Content[i].Value)
			}
			m[n.Content[i].Value] = n.Content[i+1].Value
		}
		f.Set(reflect.ValueOf(m))
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("expected a %s", k.Type)
	}
	return setString(cfg, k, n.Value)
}

// setString parses s into the key's field.
func setString(cfg *Config, k Key, s string) error {
	f := field(cfg, k)
	switch {
	case f.Type() == reflect.TypeOf(time.Duration(0)):
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not a duration (examples: 90s, 30m, 24h): %q", s)
		}
		f.SetInt(int64(d))
	case f.Kind() == reflect.String:
		f.SetString(s)
	case f.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("not a boolean (true or false): %q", s)
		}
		f.SetBool(b)
	case f.Kind() == reflect.Int || f.Kind() == reflect.Int64:
		i, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return fmt.Errorf("not an integer: %q", s)
		}
		f.SetInt(i)
	case f.Kind() == reflect.Float64:
		x, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("not a number: %q", s)
		}
		f.SetFloat(x)
	case f.Kind() == reflect.Slice:
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		f.Set(reflect.ValueOf(out))
	case f.Kind() == reflect.Map:
		m := map[string]string{}
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p == "" {
				continue
			}
			kk, vv, ok := strings.Cut(p, "=")
			if !ok {
				return fmt.Errorf("expected key=value pairs separated by commas: %q", p)
			}
			m[strings.TrimSpace(kk)] = strings.TrimSpace(vv)
		}
		f.Set(reflect.ValueOf(m))
	default:
		return fmt.Errorf("unsupported type %s", f.Type())
	}
	return nil
}

// Lookup returns the value of key as it would be written in a file.
func (c *Config) Lookup(key string) (any, bool) {
	k, ok := keyIndex()[key]
	if !ok {
		return nil, false
	}
	return field(c, k).Interface(), true
}
