// Package codec is the binary encoding of cost sets for storage: versioned, compact
// (string and label-set dictionaries, sparse numbers) and compressed, so that a day of
// a 10,000-pod cluster decodes in milliseconds.
//
// It owns bytes <-> cost.Set only. It must not encrypt (internal/seal does), must not
// do I/O, and must decode every version it ever wrote. Decoding hostile or truncated
// input returns an error, never panics (fuzzed).
package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/costwarden/costwarden/internal/cost"
)

// Format versions. Version 1: zstd frame of the body described in encoder.
// Version 2: the same body with two more allocation numbers (CPUUsageMax,
// RAMUsageMax) at the end of each row's float mask (a version-1 mask never sets
// those bits), and each allocation row's four times written relative to the set's
// window start (see putRT) instead of as absolute nanoseconds: 5-7 bytes a row
// instead of 36.
const (
	formatV1   = 1
	formatV2   = 2
	maxDecoded = 1 << 30 // refuse to inflate beyond 1 GiB
)

// ErrFormat is returned (wrapped) for input that is not a valid encoded set.
var ErrFormat = errors.New("not a valid encoded cost set")

// Codec encodes and decodes sets. It is safe for concurrent use; create one and
// share it (zstd encoders and decoders are pooled).
type Codec struct {
	enc    sync.Pool
	dec    sync.Pool
	bodies sync.Pool // *[]byte decompression buffers
}

// New returns a Codec.
func New() *Codec { return &Codec{} }

func (c *Codec) encoder() *zstd.Encoder {
	if e, ok := c.enc.Get().(*zstd.Encoder); ok {
		return e
	}
	// No frame checksum: every stored blob is authenticated by AES-GCM already.
	e, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1), zstd.WithEncoderCRC(false))
	if err != nil {
		panic(fmt.Sprintf("codec: zstd encoder with static options: %v", err))
	}
	return e
}

func (c *Codec) decoder() *zstd.Decoder {
	if d, ok := c.dec.Get().(*zstd.Decoder); ok {
		return d
	}
	// Checksums of older frames are not verified: the sealed blob's AES-GCM tag
	// already authenticates every byte.
	d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(maxDecoded), zstd.IgnoreChecksum(true))
	if err != nil {
		panic(fmt.Sprintf("codec: zstd decoder with static options: %v", err))
	}
	return d
}

// Encode serialises s.
func (c *Codec) Encode(s *cost.Set) []byte {
	e := newEncoder()
	body := e.set(s)
	z := c.encoder()
	out := append([]byte{formatV2}, z.EncodeAll(body, nil)...)
	c.enc.Put(z)
	return out
}

// Decode parses bytes produced by Encode (any version).
func (c *Codec) Decode(b []byte) (*cost.Set, error) {
	var (
		rows  []cost.Allocation
		props []cost.Properties
		out   []*cost.Allocation
	)
	set, err := c.decode(b, true, func(n int) {
		// Allocate rows and properties in blocks: one allocation per set instead
		// of two per row.
		rows = make([]cost.Allocation, n)
		props = make([]cost.Properties, n)
		if n > 0 {
			out = make([]*cost.Allocation, 0, n)
		}
	}, func(a *cost.Allocation) {
		i := len(out)
		rows[i] = *a
		props[i] = *a.Properties
		rows[i].Properties = &props[i]
		out = append(out, &rows[i])
	})
	if err != nil {
		return nil, err
	}
	set.Allocations = out
	return set, nil
}

// Stream decodes b like Decode but, instead of building the set's allocation rows,
// calls fn with each row in turn. The row passed to fn (and its Properties) is reused
// for the next one: fn must copy whatever it keeps. Strings and label maps may be
// kept; label maps are shared between rows and must not be modified. With names
// false, container rows carry an empty Name (it is derived from their properties,
// see ContainerName), which saves building one string per row.
//
// It returns the set without Allocations (window, assets, warnings, flags).
func (c *Codec) Stream(b []byte, names bool, fn func(*cost.Allocation)) (*cost.Set, error) {
	return c.decode(b, names, nil, fn)
}

func (c *Codec) decode(b []byte, names bool, start func(n int), fn func(*cost.Allocation)) (*cost.Set, error) {
	if len(b) < 1 {
		return nil, fmt.Errorf("%w: empty", ErrFormat)
	}
	if b[0] != formatV1 && b[0] != formatV2 {
		return nil, fmt.Errorf("%w: unknown format version %d", ErrFormat, b[0])
	}
	// Decompression buffers are reused: nothing decoded refers to the body.
	bp, _ := c.bodies.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer c.bodies.Put(bp)
	z := c.decoder()
	body, err := z.DecodeAll(b[1:], (*bp)[:0])
	c.dec.Put(z)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	*bp = body
	d := &decoder{b: body, names: names, version: b[0]}
	s, err := d.set(start, fn)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	return s, nil
}

// encoder builds the body: header, string table, label-set table, then rows.
type encoder struct {
	strs    map[string]uint32
	strList []string
	maps    map[string]uint32 // canonical form -> index
	mapList []map[string]string
	byPtr   map[uintptr]uint32
}

func newEncoder() *encoder {
	return &encoder{strs: map[string]uint32{"": 0}, strList: []string{""}, maps: map[string]uint32{}, byPtr: map[uintptr]uint32{}, mapList: []map[string]string{nil}}
}

func (e *encoder) str(s string) uint32 {
	if i, ok := e.strs[s]; ok {
		return i
	}
	i := uint32(len(e.strList))
	e.strs[s] = i
	e.strList = append(e.strList, s)
	return i
}

// labels interns a label set. Rows of one pod share the same map, so identity is
// checked before content.
func (e *encoder) labels(m map[string]string) uint32 {
	if len(m) == 0 {
		return 0
	}
	p := reflect.ValueOf(m).Pointer()
	if i, ok := e.byPtr[p]; ok {
		return i
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteString(k)
		sb.WriteByte(0)
		sb.WriteString(m[k])
		sb.WriteByte(0)
	}
	canon := sb.String()
	i, ok := e.maps[canon]
	if !ok {
		i = uint32(len(e.mapList))
		e.maps[canon] = i
		e.mapList = append(e.mapList, m)
		for _, k := range keys {
			e.str(k)
			e.str(m[k])
		}
	}
	e.byPtr[p] = i
	return i
}

func putU(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func putF(b []byte, v float64) []byte {
	return binary.LittleEndian.AppendUint64(b, math.Float64bits(v))
}
func putT(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return putU(b, 0)
	}
	return putU(b, uint64(t.UnixNano())+1)
}

// putRT writes a time relative to base: 0 for the zero time; (zigzag(seconds) << 1)
// | 1 when the offset is whole seconds (it always is for stored rows); else 2
// followed by zigzag(nanoseconds).
func putRT(b []byte, t, base time.Time) []byte {
	if t.IsZero() {
		return putU(b, 0)
	}
	d := t.Sub(base)
	if d%time.Second == 0 {
		return putU(b, zigzag(int64(d/time.Second))<<1|1)
	}
	return putU(putU(b, 2), zigzag(int64(d)))
}

func zigzag(v int64) uint64   { return uint64(v<<1) ^ uint64(v>>63) }
func unzigzag(u uint64) int64 { return int64(u>>1) ^ -int64(u&1) }

// floats writes a presence mask and the non-zero values.
func putFloats(b []byte, vs ...float64) []byte {
	var mask uint64
	for i, v := range vs {
		if v != 0 {
			mask |= 1 << uint(i)
		}
	}
	b = putU(b, mask)
	for _, v := range vs {
		if v != 0 {
			b = putF(b, v)
		}
	}
	return b
}

func allocFloats(a *cost.Allocation) []float64 {
	return []float64{
		a.RunningMinutes,
		a.CPUCoreHours, a.CPURequestCoreHours, a.CPUUsageCoreHours, a.CPUCost, a.CPUCostIdle,
		a.RAMByteHours, a.RAMRequestByteHours, a.RAMUsageByteHours, a.RAMCost, a.RAMCostIdle,
		a.GPUHours, a.GPURequestHours, a.GPUCost, a.GPUCostIdle,
		a.PVByteHours, a.PVCost, a.LoadBalancerCost, a.SharedCost,
		a.CPUUsageMax, a.RAMUsageMax,
	}
}

const nAllocFloats = 21

func (e *encoder) set(s *cost.Set) []byte {
	var r []byte
	// Rows first (they fill the tables), header and tables are prepended after.
	r = putU(r, uint64(len(s.Allocations)))
	for _, a := range s.Allocations {
		p := a.Properties
		if p == nil {
			p = &cost.Properties{}
		}
		r = append(r, byte(a.Kind))
		name := a.Name
		if a.Kind == cost.KindContainer && name == ContainerName(p) {
			name = "" // derived on decode
		}
		for _, v := range []string{name, p.Cluster, p.Node, p.Namespace, p.ControllerKind, p.Controller, p.Pod, p.Container, p.ProviderID} {
			r = putU(r, uint64(e.str(v)))
		}
		r = putU(r, uint64(len(p.Services)))
		for _, sv := range p.Services {
			r = putU(r, uint64(e.str(sv)))
		}
		for _, m := range []map[string]string{p.Labels, p.Annotations, p.NamespaceLabels, p.NamespaceAnnotations} {
			r = putU(r, uint64(e.labels(m)))
		}
		base := s.Window.Start
		r = putRT(r, a.Window.Start, base)
		r = putRT(r, a.Window.End, base)
		r = putRT(r, a.Start, base)
		r = putRT(r, a.End, base)
		r = putFloats(r, allocFloats(a)...)
	}
	r = putU(r, uint64(len(s.Nodes)))
	for _, n := range s.Nodes {
		for _, v := range []string{n.Cluster, n.Name, n.ProviderID, n.Provider, n.InstanceType, n.Region, n.Zone, n.PriceSource, n.PriceWarning} {
			r = putU(r, uint64(e.str(v)))
		}
		spot := byte(0)
		if n.Spot {
			spot = 1
		}
		r = append(r, spot)
		r = putU(r, uint64(e.labels(n.Labels)))
		r = putT(r, n.Window.Start)
		r = putT(r, n.Window.End)
		r = putT(r, n.Start)
		r = putT(r, n.End)
		r = putFloats(r, n.Minutes, n.CPUCores, n.RAMBytes, n.GPUs, n.CPUCoreHours, n.RAMByteHours, n.GPUHours,
			n.CPUCost, n.RAMCost, n.GPUCost, n.Discount, n.HourlyCPU, n.HourlyRAM, n.HourlyGPU, n.CPUCostAdjustment, n.RAMCostAdjust)
	}
	r = putU(r, uint64(len(s.Disks)))
	for _, d := range s.Disks {
		for _, v := range []string{d.Cluster, d.Name, d.StorageClass, d.ProviderID} {
			r = putU(r, uint64(e.str(v)))
		}
		r = putT(r, d.Window.Start)
		r = putT(r, d.Window.End)
		r = putT(r, d.Start)
		r = putT(r, d.End)
		r = putFloats(r, d.Minutes, d.Bytes, d.ByteHours, d.Cost)
	}
	r = putU(r, uint64(len(s.LoadBalancers)))
	for _, l := range s.LoadBalancers {
		for _, v := range []string{l.Cluster, l.Namespace, l.Name} {
			r = putU(r, uint64(e.str(v)))
		}
		r = putT(r, l.Window.Start)
		r = putT(r, l.Window.End)
		r = putT(r, l.Start)
		r = putT(r, l.End)
		r = putFloats(r, l.Minutes, l.Cost)
	}
	r = putU(r, uint64(len(s.Warnings)))
	for _, w := range s.Warnings {
		r = putU(r, uint64(e.str(w)))
	}

	var h []byte
	h = putU(h, uint64(e.str(s.Cluster)))
	h = putT(h, s.Window.Start)
	h = putT(h, s.Window.End)
	h = append(h, byte(s.Resolution))
	partial := byte(0)
	if s.Partial {
		partial = 1
	}
	h = append(h, partial)
	// String table.
	h = putU(h, uint64(len(e.strList)))
	for _, st := range e.strList {
		h = putU(h, uint64(len(st)))
		h = append(h, st...)
	}
	// Label-set table (index 0 is the empty set and is not written).
	h = putU(h, uint64(len(e.mapList)-1))
	for _, m := range e.mapList[1:] {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		h = putU(h, uint64(len(keys)))
		for _, k := range keys {
			h = putU(h, uint64(e.strs[k]))
			h = putU(h, uint64(e.strs[m[k]]))
		}
	}
	return append(h, r...)
}

// ContainerName is the OpenCost name of a container row:
// cluster/node/namespace/pod/container.
func ContainerName(p *cost.Properties) string {
	return p.Cluster + "/" + p.Node + "/" + p.Namespace + "/" + p.Pod + "/" + p.Container
}

type decoder struct {
	b       []byte
	off     int
	err     error
	strs    []string
	maps    []map[string]string
	names   bool
	version byte
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) u() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.off:])
	if n <= 0 {
		d.fail("truncated varint at offset %d", d.off)
		return 0
	}
	d.off += n
	return v
}

func (d *decoder) byte1() byte {
	if d.err != nil {
		return 0
	}
	if d.off >= len(d.b) {
		d.fail("truncated at offset %d", d.off)
		return 0
	}
	v := d.b[d.off]
	d.off++
	return v
}

func (d *decoder) f() float64 {
	if d.err != nil {
		return 0
	}
	if d.off+8 > len(d.b) {
		d.fail("truncated float at offset %d", d.off)
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b[d.off:]))
	d.off += 8
	return v
}

func (d *decoder) t() time.Time {
	v := d.u()
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v-1)).UTC()
}

// rt reads a time written by putRT.
func (d *decoder) rt(base time.Time) time.Time {
	v := d.u()
	switch {
	case v == 0:
		return time.Time{}
	case v&1 == 1:
		return base.Add(time.Duration(unzigzag(v>>1)) * time.Second)
	case v == 2:
		return base.Add(time.Duration(unzigzag(d.u())))
	}
	d.fail("bad relative time tag %d", v)
	return time.Time{}
}

func (d *decoder) s() string {
	i := d.u()
	if i >= uint64(len(d.strs)) {
		d.fail("string index %d out of range", i)
		return ""
	}
	return d.strs[i]
}

func (d *decoder) m() map[string]string {
	i := d.u()
	if i >= uint64(len(d.maps)) {
		d.fail("label-set index %d out of range", i)
		return nil
	}
	return d.maps[i]
}

// count reads a length and checks it against the bytes left (each item needs at
// least min bytes), so hostile lengths cannot make us allocate gigabytes.
func (d *decoder) count(min int) int {
	n := d.u()
	if d.err == nil && n > uint64((len(d.b)-d.off)/min+1) {
		d.fail("count %d exceeds the remaining input", n)
		return 0
	}
	return int(n)
}

func (d *decoder) floats(dst ...*float64) {
	mask := d.u()
	if mask>>uint(len(dst)) != 0 {
		d.fail("float mask %x has unknown fields", mask)
		return
	}
	for i, p := range dst {
		if mask&(1<<uint(i)) != 0 {
			*p = d.f()
		} else {
			*p = 0
		}
	}
}

func (d *decoder) set(start func(n int), fn func(*cost.Allocation)) (*cost.Set, error) {
	// The header references the string table, which follows it: read the fixed
	// header fields as indexes first.
	clusterIdx := d.u()
	ws, we := d.t(), d.t()
	res := cost.Resolution(d.byte1())
	partial := d.byte1() == 1
	nStr := d.count(1)
	// The table's strings are substrings of one string made from the whole table:
	// one allocation instead of one per string.
	type span struct{ from, to int }
	spans := make([]span, 0, nStr)
	tableStart := d.off
	for i := 0; i < nStr && d.err == nil; i++ {
		l := d.u()
		if d.err == nil && l > uint64(len(d.b)-d.off) {
			d.fail("string length %d exceeds input", l)
			break
		}
		spans = append(spans, span{d.off - tableStart, d.off - tableStart + int(l)})
		d.off += int(l)
	}
	if d.err != nil {
		return nil, d.err
	}
	table := string(d.b[tableStart:d.off])
	d.strs = make([]string, len(spans))
	for i, sp := range spans {
		d.strs[i] = table[sp.from:sp.to]
	}
	nMaps := d.count(1)
	d.maps = make([]map[string]string, 1, nMaps+1)
	for i := 0; i < nMaps && d.err == nil; i++ {
		n := d.count(2)
		m := make(map[string]string, n)
		for j := 0; j < n && d.err == nil; j++ {
			k := d.s()
			m[k] = d.s()
		}
		d.maps = append(d.maps, m)
	}
	if d.err != nil {
		return nil, d.err
	}
	if clusterIdx >= uint64(len(d.strs)) {
		return nil, fmt.Errorf("cluster index %d out of range", clusterIdx)
	}
	s := &cost.Set{Cluster: d.strs[clusterIdx], Window: cost.Window{Start: ws, End: we}, Resolution: res, Partial: partial}

	nA := d.count(nAllocFloats / 8)
	if start != nil {
		start(nA)
	}
	var a cost.Allocation
	var p cost.Properties
	var services []string
	for i := 0; i < nA && d.err == nil; i++ {
		a = cost.Allocation{Properties: &p}
		a.Kind = cost.Kind(d.byte1())
		a.Name = d.s()
		p.Cluster, p.Node, p.Namespace, p.ControllerKind, p.Controller = d.s(), d.s(), d.s(), d.s(), d.s()
		p.Pod, p.Container, p.ProviderID = d.s(), d.s(), d.s()
		p.Services = nil
		if ns := d.count(1); ns > 0 {
			// Rows keep their own services slice only in Decode (which copies the
			// row); in a stream the slice is reused.
			if start != nil {
				services = make([]string, ns)
			} else {
				services = slices.Grow(services[:0], ns)[:ns]
			}
			for j := range services {
				services[j] = d.s()
			}
			p.Services = services
		}
		p.Labels, p.Annotations, p.NamespaceLabels, p.NamespaceAnnotations = d.m(), d.m(), d.m(), d.m()
		if d.version >= formatV2 {
			a.Window = cost.Window{Start: d.rt(ws), End: d.rt(ws)}
			a.Start, a.End = d.rt(ws), d.rt(ws)
		} else {
			a.Window = cost.Window{Start: d.t(), End: d.t()}
			a.Start, a.End = d.t(), d.t()
		}
		d.floats(&a.RunningMinutes,
			&a.CPUCoreHours, &a.CPURequestCoreHours, &a.CPUUsageCoreHours, &a.CPUCost, &a.CPUCostIdle,
			&a.RAMByteHours, &a.RAMRequestByteHours, &a.RAMUsageByteHours, &a.RAMCost, &a.RAMCostIdle,
			&a.GPUHours, &a.GPURequestHours, &a.GPUCost, &a.GPUCostIdle,
			&a.PVByteHours, &a.PVCost, &a.LoadBalancerCost, &a.SharedCost,
			&a.CPUUsageMax, &a.RAMUsageMax)
		if a.Name == "" && a.Kind == cost.KindContainer && d.names {
			a.Name = ContainerName(&p)
		}
		if d.err == nil {
			fn(&a)
		}
	}
	nN := d.count(4)
	for i := 0; i < nN && d.err == nil; i++ {
		n := &cost.NodeAsset{}
		n.Cluster, n.Name, n.ProviderID, n.Provider, n.InstanceType = d.s(), d.s(), d.s(), d.s(), d.s()
		n.Region, n.Zone, n.PriceSource, n.PriceWarning = d.s(), d.s(), d.s(), d.s()
		n.Spot = d.byte1() == 1
		n.Labels = d.m()
		n.Window = cost.Window{Start: d.t(), End: d.t()}
		n.Start, n.End = d.t(), d.t()
		d.floats(&n.Minutes, &n.CPUCores, &n.RAMBytes, &n.GPUs, &n.CPUCoreHours, &n.RAMByteHours, &n.GPUHours,
			&n.CPUCost, &n.RAMCost, &n.GPUCost, &n.Discount, &n.HourlyCPU, &n.HourlyRAM, &n.HourlyGPU, &n.CPUCostAdjustment, &n.RAMCostAdjust)
		s.Nodes = append(s.Nodes, n)
	}
	nD := d.count(4)
	for i := 0; i < nD && d.err == nil; i++ {
		v := &cost.DiskAsset{}
		v.Cluster, v.Name, v.StorageClass, v.ProviderID = d.s(), d.s(), d.s(), d.s()
		v.Window = cost.Window{Start: d.t(), End: d.t()}
		v.Start, v.End = d.t(), d.t()
		d.floats(&v.Minutes, &v.Bytes, &v.ByteHours, &v.Cost)
		s.Disks = append(s.Disks, v)
	}
	nL := d.count(4)
	for i := 0; i < nL && d.err == nil; i++ {
		l := &cost.LoadBalancerAsset{}
		l.Cluster, l.Namespace, l.Name = d.s(), d.s(), d.s()
		l.Window = cost.Window{Start: d.t(), End: d.t()}
		l.Start, l.End = d.t(), d.t()
		d.floats(&l.Minutes, &l.Cost)
		s.LoadBalancers = append(s.LoadBalancers, l)
	}
	nW := d.count(1)
	for i := 0; i < nW && d.err == nil; i++ {
		s.Warnings = append(s.Warnings, d.s())
	}
	if d.err != nil {
		return nil, d.err
	}
	if d.off != len(d.b) {
		return nil, fmt.Errorf("%d trailing bytes", len(d.b)-d.off)
	}
	return s, nil
}
