package allocation

import (
	"fmt"
	"slices"
	"strings"

	"github.com/costwarden/costwarden/internal/cost"
)

// Filter is a parsed OpenCost v2 filter expression (COST_MODEL.md section 8):
//
//	namespace:"a","b" + label[app]!:"web" | (controllerKind:"job" + pod<~:"etl-")
//
// Comparisons are `field op value[,value...]` with op one of `:` (equals any),
// `!:` (equals none), `~:` (contains), `!~:`, `<~:` (starts with), `!<~:`, `~>:`
// (ends with) and `!~>:`. `+` binds tighter than `|`; parentheses group. Values are
// double-quoted; `\"` and `\\` escape inside them.
//
// A Filter is immutable and safe for concurrent use. Its String form is canonical,
// so two filters that print the same select the same rows.
type Filter struct {
	root filterNode
}

// Match reports whether the row passes the filter. A nil filter passes every row.
func (f *Filter) Match(a *cost.Allocation) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.match(a)
}

// String is the canonical spelling of the filter.
func (f *Filter) String() string {
	if f == nil || f.root == nil {
		return ""
	}
	var b strings.Builder
	f.root.write(&b, false)
	return b.String()
}

// Predicate returns the filter as a Query.Filter (nil for an empty filter).
func (f *Filter) Predicate() func(*cost.Allocation) bool {
	if f == nil || f.root == nil {
		return nil
	}
	return f.root.match
}

// FilterError is a malformed filter: Pos is the byte offset (0-based) of the problem.
type FilterError struct {
	Pos int
	Msg string
}

func (e *FilterError) Error() string {
	return fmt.Sprintf("at position %d: %s", e.Pos+1, e.Msg)
}

// FilterFields lists the fields a filter may test, for error messages.
func FilterFields() string {
	return "cluster, node, namespace, controllerKind, controllerName (or controller), pod, container, services, " +
		"label[<key>], annotation[<key>], namespaceLabel[<key>], team, department, product, environment, owner"
}

type filterNode interface {
	match(a *cost.Allocation) bool
	// write appends the canonical form; paren says whether an or-node must be
	// parenthesised (it is an operand of an and-node).
	write(b *strings.Builder, paren bool)
}

type andNode []filterNode
type orNode []filterNode

func (n andNode) match(a *cost.Allocation) bool {
	for _, c := range n {
		if !c.match(a) {
			return false
		}
	}
	return true
}

func (n orNode) match(a *cost.Allocation) bool {
	for _, c := range n {
		if c.match(a) {
			return true
		}
	}
	return false
}

func (n andNode) write(b *strings.Builder, _ bool) {
	for i, c := range n {
		if i > 0 {
			b.WriteString(" + ")
		}
		c.write(b, true)
	}
}

func (n orNode) write(b *strings.Builder, paren bool) {
	if paren {
		b.WriteByte('(')
	}
	for i, c := range n {
		if i > 0 {
			b.WriteString(" | ")
		}
		c.write(b, false)
	}
	if paren {
		b.WriteByte(')')
	}
}

type matchOp uint8

const (
	opEqual matchOp = iota
	opContains
	opPrefix
	opSuffix
)

var opSpelling = [...]string{opEqual: ":", opContains: "~:", opPrefix: "<~:", opSuffix: "~>:"}

// fieldKind is what a comparison reads from a row.
type fieldKind uint8

const (
	fieldCluster fieldKind = iota + 1
	fieldNode
	fieldNamespace
	fieldControllerKind
	fieldControllerName
	fieldPod
	fieldContainer
	fieldServices
	fieldLabel
	fieldAnnotation
	fieldNamespaceLabel
	fieldBusiness
)

var filterFieldNames = map[string]fieldKind{
	"cluster":        fieldCluster,
	"node":           fieldNode,
	"namespace":      fieldNamespace,
	"controllerKind": fieldControllerKind,
	"controllerName": fieldControllerName,
	"controller":     fieldControllerName,
	"pod":            fieldPod,
	"container":      fieldContainer,
	"services":       fieldServices,
}

type comparison struct {
	field  fieldKind
	name   string // field name as canonically written
	key    string // label/annotation key; business label
	op     matchOp
	negate bool
	values []string
}

func (c *comparison) write(b *strings.Builder, _ bool) {
	b.WriteString(c.name)
	if c.field == fieldLabel || c.field == fieldAnnotation || c.field == fieldNamespaceLabel {
		b.WriteByte('[')
		b.WriteString(c.key)
		b.WriteByte(']')
	}
	if c.negate {
		b.WriteByte('!')
	}
	b.WriteString(opSpelling[c.op])
	for i, v := range c.values {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('"')
		b.WriteString(strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v))
		b.WriteByte('"')
	}
}

func (c *comparison) test(v string) bool {
	for _, want := range c.values {
		var ok bool
		switch c.op {
		case opEqual:
			ok = v == want
		case opContains:
			ok = strings.Contains(v, want)
		case opPrefix:
			ok = strings.HasPrefix(v, want)
		case opSuffix:
			ok = strings.HasSuffix(v, want)
		}
		if ok {
			return true
		}
	}
	return false
}

func (c *comparison) match(a *cost.Allocation) bool {
	p := a.Properties
	if p == nil {
		p = &cost.Properties{}
	}
	var hit bool
	switch c.field {
	case fieldServices:
		// A list field: the comparison holds if it holds for any element.
		for _, s := range p.Services {
			if c.test(s) {
				hit = true
				break
			}
		}
	case fieldLabel, fieldAnnotation, fieldNamespaceLabel:
		var m map[string]string
		switch c.field {
		case fieldLabel:
			m = p.Labels
		case fieldAnnotation:
			m = p.Annotations
		default:
			m = p.NamespaceLabels
		}
		v, ok := lookupLabelOK(m, c.key)
		// A row without the label matches no positive comparison (and so every
		// negated one), even `label[k]:""`.
		hit = ok && c.test(v)
	case fieldBusiness:
		v, ok := lookupLabelOK(p.Labels, c.key)
		if !ok {
			v, ok = lookupLabelOK(p.NamespaceLabels, c.key)
		}
		hit = ok && c.test(v)
	default:
		hit = c.test(c.scalar(p))
	}
	return hit != c.negate
}

func (c *comparison) scalar(p *cost.Properties) string {
	switch c.field {
	case fieldCluster:
		return p.Cluster
	case fieldNode:
		return p.Node
	case fieldNamespace:
		return p.Namespace
	case fieldControllerKind:
		return p.ControllerKind
	case fieldControllerName:
		return p.Controller
	case fieldPod:
		return p.Pod
	case fieldContainer:
		return p.Container
	}
	return ""
}

// maxFilterLen bounds the work one filter can ask for.
const maxFilterLen = 16 << 10

// ParseFilter parses a filter expression. businessLabels maps the business fields
// (team, department, ...) to the label they read, as for aggregation. An empty or
// blank expression gives a nil filter, which passes every row.
func ParseFilter(s string, businessLabels map[string]string) (*Filter, error) {
	if len(s) > maxFilterLen {
		return nil, &FilterError{Pos: maxFilterLen, Msg: fmt.Sprintf("filter is longer than %d bytes", maxFilterLen)}
	}
	p := &filterParser{s: s, business: businessLabels}
	p.skipSpace()
	if p.pos == len(s) {
		return nil, nil
	}
	n, err := p.or(0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos < len(s) {
		if s[p.pos] == ')' {
			return nil, p.errf("unmatched ')'")
		}
		return nil, p.errf("expected '+', '|' or the end of the filter, found %s", p.found())
	}
	return &Filter{root: n}, nil
}

type filterParser struct {
	s        string
	pos      int
	business map[string]string
}

// maxFilterDepth bounds nesting so a hostile filter cannot exhaust the stack.
const maxFilterDepth = 64

func (p *filterParser) errf(format string, args ...any) error {
	return &FilterError{Pos: p.pos, Msg: fmt.Sprintf(format, args...)}
}

func (p *filterParser) found() string {
	if p.pos >= len(p.s) {
		return "the end of the filter"
	}
	r := p.s[p.pos:]
	if len(r) > 12 {
		r = r[:12] + "…"
	}
	return fmt.Sprintf("%q", r)
}

func (p *filterParser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n' || p.s[p.pos] == '\r') {
		p.pos++
	}
}

func (p *filterParser) or(depth int) (filterNode, error) {
	var terms orNode
	for {
		t, err := p.and(depth)
		if err != nil {
			return nil, err
		}
		if o, ok := t.(orNode); ok {
			terms = append(terms, o...)
		} else {
			terms = append(terms, t)
		}
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == '|' {
			p.pos++
			continue
		}
		break
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *filterParser) and(depth int) (filterNode, error) {
	var terms andNode
	for {
		t, err := p.unary(depth)
		if err != nil {
			return nil, err
		}
		if a, ok := t.(andNode); ok {
			terms = append(terms, a...)
		} else {
			terms = append(terms, t)
		}
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == '+' {
			p.pos++
			continue
		}
		break
	}
	if len(terms) == 1 {
		return terms[0], nil
	}
	return terms, nil
}

func (p *filterParser) unary(depth int) (filterNode, error) {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return nil, p.errf("expected a comparison such as namespace:\"kube-system\", found the end of the filter")
	}
	if p.s[p.pos] == '(' {
		if depth >= maxFilterDepth {
			return nil, p.errf("parentheses nested deeper than %d", maxFilterDepth)
		}
		p.pos++
		n, err := p.or(depth + 1)
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ')' {
			return nil, p.errf("expected ')', found %s", p.found())
		}
		p.pos++
		return n, nil
	}
	return p.comparison()
}

func isIdentByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func (p *filterParser) comparison() (filterNode, error) {
	start := p.pos
	for p.pos < len(p.s) && isIdentByte(p.s[p.pos]) {
		p.pos++
	}
	name := p.s[start:p.pos]
	if name == "" {
		return nil, p.errf("expected a field name (%s), found %s", FilterFields(), p.found())
	}
	c := &comparison{name: name}
	switch {
	case name == "label" || name == "annotation" || name == "namespaceLabel":
		c.field = map[string]fieldKind{"label": fieldLabel, "annotation": fieldAnnotation, "namespaceLabel": fieldNamespaceLabel}[name]
		if p.pos >= len(p.s) || p.s[p.pos] != '[' {
			return nil, p.errf("expected '[' after %s (for example %s[app])", name, name)
		}
		p.pos++
		ks := p.pos
		for p.pos < len(p.s) && p.s[p.pos] != ']' {
			p.pos++
		}
		if p.pos >= len(p.s) {
			return nil, &FilterError{Pos: ks - 1, Msg: "unclosed '['"}
		}
		c.key = p.s[ks:p.pos]
		if !validLabelKey(c.key) {
			return nil, &FilterError{Pos: ks, Msg: fmt.Sprintf("%q is not a label key", c.key)}
		}
		p.pos++
	case isBusinessKey(name):
		c.field = fieldBusiness
		c.key = businessLabelOf(name, p.business)
	default:
		f, ok := filterFieldNames[name]
		if !ok {
			return nil, &FilterError{Pos: start, Msg: fmt.Sprintf("unknown field %q; fields: %s", name, FilterFields())}
		}
		c.field = f
		if name == "controller" {
			c.name = "controllerName"
		}
	}
	p.skipSpace()
	opPos := p.pos
	if p.pos < len(p.s) && p.s[p.pos] == '!' {
		c.negate = true
		p.pos++
	}
	switch rest := p.s[p.pos:]; {
	case strings.HasPrefix(rest, "<~:"):
		c.op, p.pos = opPrefix, p.pos+3
	case strings.HasPrefix(rest, "~>:"):
		c.op, p.pos = opSuffix, p.pos+3
	case strings.HasPrefix(rest, "~:"):
		c.op, p.pos = opContains, p.pos+2
	case strings.HasPrefix(rest, ":"):
		c.op, p.pos = opEqual, p.pos+1
	default:
		p.pos = opPos
		return nil, p.errf("expected an operator (:, !:, ~:, !~:, <~:, !<~:, ~>:, !~>:) after %s, found %s", name, p.found())
	}
	for {
		p.skipSpace()
		v, err := p.quoted()
		if err != nil {
			return nil, err
		}
		c.values = append(c.values, v)
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == ',' {
			p.pos++
			continue
		}
		break
	}
	slices.Sort(c.values)
	c.values = slices.Compact(c.values)
	return c, nil
}

func (p *filterParser) quoted() (string, error) {
	if p.pos >= len(p.s) || p.s[p.pos] != '"' {
		return "", p.errf("expected a double-quoted value, found %s", p.found())
	}
	open := p.pos
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		ch := p.s[p.pos]
		switch ch {
		case '"':
			p.pos++
			return b.String(), nil
		case '\\':
			if p.pos+1 < len(p.s) && (p.s[p.pos+1] == '"' || p.s[p.pos+1] == '\\') {
				b.WriteByte(p.s[p.pos+1])
				p.pos += 2
				continue
			}
			return "", p.errf(`bad escape: only \" and \\ are allowed inside a value`)
		}
		b.WriteByte(ch)
		p.pos++
	}
	return "", &FilterError{Pos: open, Msg: "unterminated quoted value"}
}

func businessLabelOf(key string, m map[string]string) string {
	if l := m[key]; l != "" {
		return l
	}
	return key
}

// lookupLabelOK is lookupLabel that also reports whether the key exists.
func lookupLabelOK(labels map[string]string, key string) (string, bool) {
	if v, ok := labels[key]; ok {
		return v, true
	}
	if len(labels) == 0 || !strings.Contains(key, "_") {
		return "", false
	}
	for lk, v := range labels {
		if sanitize(lk) == key {
			return v, true
		}
	}
	return "", false
}
