package httpapi

import (
	"errors"
	"maps"
	"slices"
	"time"
	"unicode/utf8"
)

// An allocation row is written without reflection: a week of hourly steps by
// controller is about 200,000 rows of 32 numbers, and encoding/json validates
// and re-copies the output of every MarshalJSON it calls. The appenders below
// write exactly what json.Marshal writes for the same types
// (TestAllocationJSONMatchesEncodingJSON compares them on random rows).

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes it: HTML-safe
// (<, > and & escaped), control characters escaped, invalid UTF-8 replaced
// by U+FFFD, and U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...) // the replacement character itself, not escaped
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, quoted), with the same refusal of years beyond four digits.
func appendJSONTime(b []byte, t time.Time) ([]byte, error) {
	if y := t.Year(); y < 0 || y >= 10000 {
		return b, errors.New("Time.MarshalJSON: year outside of range [0,9999]")
	}
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"'), nil
}

// appendStringMap appends m as a JSON object with its keys sorted, as
// encoding/json writes a map[string]string.
func appendStringMap(b []byte, m map[string]string) []byte {
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		b = appendJSONString(b, m[k])
	}
	return append(b, '}')
}

// appendJSON appends the properties object (omitempty fields left out).
func (p *propertiesJSON) appendJSON(b []byte) []byte {
	if p == nil {
		return append(b, "null"...)
	}
	b = append(b, '{')
	first := true
	key := func(name string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, name...)
		b = append(b, '"', ':')
	}
	for _, f := range [...]struct{ name, v string }{
		{"cluster", p.Cluster}, {"node", p.Node}, {"container", p.Container}, {"controller", p.Controller},
		{"controllerKind", p.ControllerKind}, {"namespace", p.Namespace}, {"pod", p.Pod},
	} {
		if f.v != "" {
			key(f.name)
			b = appendJSONString(b, f.v)
		}
	}
	if len(p.Services) > 0 {
		key("services")
		b = append(b, '[')
		for i, s := range p.Services {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, s)
		}
		b = append(b, ']')
	}
	if p.ProviderID != "" {
		key("providerID")
		b = appendJSONString(b, p.ProviderID)
	}
	for _, f := range [...]struct {
		name string
		m    map[string]string
	}{{"labels", p.Labels}, {"annotations", p.Annotations}, {"namespaceLabels", p.NamespaceLabels}, {"namespaceAnnotations", p.NamespaceAnnotations}} {
		if len(f.m) > 0 {
			key(f.name)
			b = appendStringMap(b, f.m)
		}
	}
	return append(b, '}')
}

// appendJSON appends the row as json.Marshal writes allocationJSON's fields.
func (a *allocationJSON) appendJSON(b []byte) ([]byte, error) {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, a.Name)
	b = append(b, `,"properties":`...)
	b = a.Properties.appendJSON(b)
	var err error
	for _, t := range [...]struct {
		prefix string
		t      time.Time
	}{{`,"window":{"start":`, a.Window.Start}, {`,"end":`, a.Window.End}, {`},"start":`, a.Start}, {`,"end":`, a.End}} {
		b = append(b, t.prefix...)
		if b, err = appendJSONTime(b, t.t); err != nil {
			return nil, err
		}
	}
	for _, f := range [...]struct {
		name string
		v    num
	}{
		{"minutes", a.Minutes}, {"cpuCores", a.CPUCores}, {"cpuCoreRequestAverage", a.CPUCoreRequestAverage},
		{"cpuCoreUsageAverage", a.CPUCoreUsageAverage}, {"cpuCoreHours", a.CPUCoreHours}, {"cpuCost", a.CPUCost},
		{"cpuCostAdjustment", a.CPUCostAdjustment}, {"cpuCostIdle", a.CPUCostIdle}, {"cpuEfficiency", a.CPUEfficiency},
		{"gpuCount", a.GPUCount}, {"gpuHours", a.GPUHours}, {"gpuCost", a.GPUCost}, {"gpuCostAdjustment", a.GPUCostAdjustment},
		{"gpuCostIdle", a.GPUCostIdle}, {"loadBalancerCost", a.LoadBalancerCost}, {"loadBalancerCostAdjustment", a.LBCostAdjustment},
		{"pvBytes", a.PVBytes}, {"pvByteHours", a.PVByteHours}, {"pvCost", a.PVCost}, {"pvCostAdjustment", a.PVCostAdjustment},
		{"ramBytes", a.RAMBytes}, {"ramByteRequestAverage", a.RAMByteRequestAverage}, {"ramByteUsageAverage", a.RAMByteUsageAverage},
		{"ramByteHours", a.RAMByteHours}, {"ramCost", a.RAMCost}, {"ramCostAdjustment", a.RAMCostAdjustment},
		{"ramCostIdle", a.RAMCostIdle}, {"ramEfficiency", a.RAMEfficiency}, {"externalCost", a.ExternalCost},
		{"sharedCost", a.SharedCost}, {"totalCost", a.TotalCost}, {"totalEfficiency", a.TotalEfficiency},
	} {
		b = append(b, ',', '"')
		b = append(b, f.name...)
		b = append(b, '"', ':')
		b = f.v.appendJSON(b)
	}
	return append(b, '}'), nil
}

// MarshalJSON writes the row without reflection (see appendJSON).
func (a *allocationJSON) MarshalJSON() ([]byte, error) {
	return a.appendJSON(make([]byte, 0, 1024))
}
