package rbac

import (
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Scope narrows what a principal may see of the costs. Every non-empty part must
// hold for a row to be visible: its cluster is one of Clusters, its namespace one
// of Namespaces, and its labels match Selector (Kubernetes label-selector syntax:
// "team=payments,tier!=batch,env in (prod,stage),!legacy"). The zero Scope is
// unrestricted.
type Scope struct {
	Clusters   []string `json:"clusters,omitempty"`
	Namespaces []string `json:"namespaces,omitempty"`
	Selector   string   `json:"selector,omitempty"`
}

// Limits on a scope, so that a stored scope stays small.
const (
	maxScopeNames = 256
	maxNameLen    = 253
	maxSelector   = 1024
)

// IsZero reports whether the scope is unrestricted.
func (s Scope) IsZero() bool {
	return len(s.Clusters) == 0 && len(s.Namespaces) == 0 && s.Selector == ""
}

// String is a compact, human-readable form (for CLI output).
func (s Scope) String() string {
	if s.IsZero() {
		return "all"
	}
	var parts []string
	if len(s.Clusters) > 0 {
		parts = append(parts, "clusters="+strings.Join(s.Clusters, "|"))
	}
	if len(s.Namespaces) > 0 {
		parts = append(parts, "namespaces="+strings.Join(s.Namespaces, "|"))
	}
	if s.Selector != "" {
		parts = append(parts, "selector="+s.Selector)
	}
	return strings.Join(parts, ";")
}

// ParseScope reads the compact form: "" or "all" is unrestricted; otherwise
// ';'-separated parts clusters=a|b, namespaces=x|y and selector=<label selector>.
func ParseScope(s string) (Scope, error) {
	s = strings.TrimSpace(s)
	var sc Scope
	if s == "" || s == "all" {
		return sc, nil
	}
	for _, part := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return Scope{}, fmt.Errorf("scope part %q: expected clusters=, namespaces= or selector=", part)
		}
		switch strings.TrimSpace(k) {
		case "clusters":
			sc.Clusters = splitNames(v)
		case "namespaces":
			sc.Namespaces = splitNames(v)
		case "selector":
			sc.Selector = strings.TrimSpace(v)
		default:
			return Scope{}, fmt.Errorf("scope part %q: unknown key %q (clusters, namespaces, selector)", part, k)
		}
	}
	if err := sc.Validate(); err != nil {
		return Scope{}, err
	}
	return sc, nil
}

func splitNames(v string) []string {
	var out []string
	for _, n := range strings.FieldsFunc(v, func(r rune) bool { return r == '|' || r == ',' }) {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// Validate checks names and the selector.
func (s Scope) Validate() error {
	if len(s.Clusters) > maxScopeNames || len(s.Namespaces) > maxScopeNames {
		return fmt.Errorf("scope: at most %d clusters and %d namespaces", maxScopeNames, maxScopeNames)
	}
	for _, list := range [][]string{s.Clusters, s.Namespaces} {
		for _, n := range list {
			if n == "" || len(n) > maxNameLen || strings.ContainsFunc(n, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
				return fmt.Errorf("scope: names must be 1-%d printable characters", maxNameLen)
			}
		}
	}
	if len(s.Selector) > maxSelector {
		return fmt.Errorf("scope: selector longer than %d characters", maxSelector)
	}
	if _, err := parseSelector(s.Selector); err != nil {
		return fmt.Errorf("scope: selector: %w", err)
	}
	return nil
}

// Within reports whether s is no wider than outer: every part outer restricts,
// s restricts at least as much (a subset of its names, and outer's selector
// requirements among its own). The check is syntactic and conservative; at
// request time scopes are intersected anyway (see Filter).
func (s Scope) Within(outer Scope) bool {
	if len(outer.Clusters) > 0 && (len(s.Clusters) == 0 || !subset(s.Clusters, outer.Clusters)) {
		return false
	}
	if len(outer.Namespaces) > 0 && (len(s.Namespaces) == 0 || !subset(s.Namespaces, outer.Namespaces)) {
		return false
	}
	if outer.Selector != "" {
		or, err1 := parseSelector(outer.Selector)
		sr, err2 := parseSelector(s.Selector)
		if err1 != nil || err2 != nil {
			return false
		}
		for _, r := range or {
			if !slices.ContainsFunc(sr, func(x requirement) bool { return x.equal(r) }) {
				return false
			}
		}
	}
	return true
}

func subset(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// Filter is the intersection of scopes, compiled: a row is visible only when
// every scope allows it. A principal's filter is its own scope, intersected with
// its token's when it authenticates with one.
type Filter struct {
	parts []compiled
	key   string
}

// Key identifies the filter: two filters with the same key allow the same rows
// (query caches use it to keep scoped and unscoped answers apart).
func (f *Filter) Key() string {
	if f.Unrestricted() {
		return ""
	}
	return f.key
}

type compiled struct {
	clusters, namespaces map[string]bool
	selector             []requirement
}

// NewFilter compiles scopes into a filter. No scopes (or only zero ones) is
// unrestricted.
func NewFilter(scopes ...Scope) (*Filter, error) {
	f := &Filter{}
	for _, s := range scopes {
		if s.IsZero() {
			continue
		}
		sel, err := parseSelector(s.Selector)
		if err != nil {
			return nil, fmt.Errorf("scope: selector: %w", err)
		}
		c := compiled{selector: sel}
		if len(s.Clusters) > 0 {
			c.clusters = setOf(s.Clusters)
		}
		if len(s.Namespaces) > 0 {
			c.namespaces = setOf(s.Namespaces)
		}
		f.parts = append(f.parts, c)
		if f.key != "" {
			f.key += " & "
		}
		f.key += canonicalScope(s)
	}
	return f, nil
}

// canonicalScope is a scope's String with its lists sorted, so equal scopes have
// equal keys whatever order they were written in.
func canonicalScope(s Scope) string {
	s.Clusters = slices.Sorted(slices.Values(s.Clusters))
	s.Namespaces = slices.Sorted(slices.Values(s.Namespaces))
	return s.String()
}

func setOf(xs []string) map[string]bool {
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// Unrestricted reports whether the filter lets everything through.
func (f *Filter) Unrestricted() bool { return f == nil || len(f.parts) == 0 }

// Allows reports whether a row of cluster and namespace with labels is visible.
func (f *Filter) Allows(cluster, namespace string, labels map[string]string) bool {
	if f == nil {
		return true
	}
	for _, c := range f.parts {
		if c.clusters != nil && !c.clusters[cluster] {
			return false
		}
		if c.namespaces != nil && !c.namespaces[namespace] {
			return false
		}
		for _, r := range c.selector {
			if !r.matches(labels) {
				return false
			}
		}
	}
	return true
}

// CoversCluster reports whether every row of cluster is visible: only then may
// the principal see cluster-level rows (idle, shared costs, nodes, disks).
func (f *Filter) CoversCluster(cluster string) bool {
	if f == nil {
		return true
	}
	for _, c := range f.parts {
		if c.namespaces != nil || len(c.selector) > 0 {
			return false
		}
		if c.clusters != nil && !c.clusters[cluster] {
			return false
		}
	}
	return true
}

// requirement is one term of a label selector.
type requirement struct {
	key    string
	op     string // "exists", "!exists", "=", "!=", "in", "notin"
	values []string
}

func (r requirement) equal(o requirement) bool {
	return r.key == o.key && r.op == o.op && slices.Equal(r.values, o.values)
}

func (r requirement) matches(labels map[string]string) bool {
	v, ok := labels[r.key]
	switch r.op {
	case "exists":
		return ok
	case "!exists":
		return !ok
	case "=":
		return ok && v == r.values[0]
	case "!=":
		return !ok || v != r.values[0]
	case "in":
		return ok && slices.Contains(r.values, v)
	case "notin":
		return !ok || !slices.Contains(r.values, v)
	}
	return false
}

// parseSelector parses Kubernetes label-selector syntax.
func parseSelector(s string) ([]requirement, error) {
	var out []requirement
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	for _, term := range splitTerms(s) {
		term = strings.TrimSpace(term)
		if term == "" {
			return nil, errors.New("empty requirement")
		}
		r, err := parseRequirement(term)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// splitTerms splits on commas outside parentheses.
func splitTerms(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func parseRequirement(t string) (requirement, error) {
	if strings.HasPrefix(t, "!") {
		k := strings.TrimSpace(t[1:])
		if err := checkLabel(k, true); err != nil {
			return requirement{}, err
		}
		return requirement{key: k, op: "!exists"}, nil
	}
	for _, op := range []string{"!=", "==", "="} {
		if k, v, ok := strings.Cut(t, op); ok {
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if err := checkLabel(k, true); err != nil {
				return requirement{}, err
			}
			if err := checkLabel(v, false); err != nil {
				return requirement{}, err
			}
			if op == "==" {
				op = "="
			}
			return requirement{key: k, op: op, values: []string{v}}, nil
		}
	}
	fields := strings.Fields(t)
	if len(fields) == 1 {
		if err := checkLabel(fields[0], true); err != nil {
			return requirement{}, err
		}
		return requirement{key: fields[0], op: "exists"}, nil
	}
	if len(fields) >= 2 && (fields[1] == "in" || fields[1] == "notin" || strings.HasPrefix(fields[1], "in(") || strings.HasPrefix(fields[1], "notin(")) {
		k := fields[0]
		rest := strings.TrimSpace(strings.TrimPrefix(t, k))
		op := "in"
		if strings.HasPrefix(rest, "notin") {
			op = "notin"
		}
		rest = strings.TrimSpace(strings.TrimPrefix(rest, op))
		if !strings.HasPrefix(rest, "(") || !strings.HasSuffix(rest, ")") {
			return requirement{}, fmt.Errorf("%q: expected %s (v1,v2,...)", t, op)
		}
		if err := checkLabel(k, true); err != nil {
			return requirement{}, err
		}
		var vals []string
		for _, v := range strings.Split(rest[1:len(rest)-1], ",") {
			v = strings.TrimSpace(v)
			if err := checkLabel(v, false); err != nil {
				return requirement{}, err
			}
			vals = append(vals, v)
		}
		if len(vals) == 0 {
			return requirement{}, fmt.Errorf("%q: empty value list", t)
		}
		slices.Sort(vals)
		return requirement{key: k, op: op, values: vals}, nil
	}
	return requirement{}, fmt.Errorf("%q is not a label requirement (key, !key, key=v, key!=v, key in (a,b), key notin (a,b))", t)
}

// checkLabel accepts Kubernetes label keys (with an optional DNS prefix) and
// values: letters, digits, '-', '_', '.', and for keys one '/'.
func checkLabel(s string, key bool) error {
	if key && s == "" {
		return errors.New("empty label key")
	}
	if len(s) > 317 {
		return fmt.Errorf("label %q is too long", s)
	}
	slashes := 0
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		case c == '/' && key:
			slashes++
		default:
			return fmt.Errorf("invalid character %q in label %q", c, s)
		}
	}
	if slashes > 1 {
		return fmt.Errorf("label key %q has more than one '/'", s)
	}
	return nil
}
