package sim

// Every random-looking value in the simulation is a hash of (seed, entity, time), not
// a draw from a sequential stream: a sequential generator would make the value of a
// minute depend on how many values were drawn before it, i.e. on the window the caller
// asked for. Hashing makes any minute of any day computable on its own.

// mix is the splitmix64 finalizer: a bijection on uint64 with good avalanche, cheap
// enough to run once per sample.
func mix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

func hash2(a, b uint64) uint64    { return mix(mix(a) ^ b) }
func hash3(a, b, c uint64) uint64 { return mix(hash2(a, b) ^ c) }

func hash4(a, b, c, d uint64) uint64 { return mix(hash3(a, b, c) ^ d) }

// hashString is FNV-1a followed by mix, used once per entity when the catalog is built.
func hashString(seed uint64, s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return hash2(seed, h)
}

// frac01 maps a hash to [0, 1).
func frac01(h uint64) float64 { return float64(h>>11) * (1.0 / (1 << 53)) }

// between maps a hash to [lo, hi).
func between(h uint64, lo, hi float64) float64 { return lo + (hi-lo)*frac01(h) }

// below maps a hash to [0, n).
func below(h uint64, n int64) int64 {
	if n <= 0 {
		return 0
	}
	return int64(h % uint64(n))
}

// Kubernetes generates name suffixes from this alphabet (no vowels, no look-alikes),
// so simulated pod names look like real ones.
const k8sAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// appendSuffix appends n characters of k8sAlphabet derived from h.
func appendSuffix(b []byte, h uint64, n int) []byte {
	for i := 0; i < n; i++ {
		if i == 12 {
			h = mix(h)
		}
		b = append(b, k8sAlphabet[h%uint64(len(k8sAlphabet))])
		h /= uint64(len(k8sAlphabet))
	}
	return b
}

func suffix(h uint64, n int) string { return string(appendSuffix(make([]byte, 0, n), h, n)) }

const hexDigits = "0123456789abcdef"

func appendHex(b []byte, h uint64, n int) []byte {
	for i := n - 1; i >= 0; i-- {
		b = append(b, hexDigits[(h>>(4*uint(i)))&0xf])
	}
	return b
}

// uuid formats a version-4 UUID from a hash, like the UIDs the API server assigns.
func uuid(h uint64) string {
	hi, lo := mix(h^0x5555), mix(h^0xaaaa)
	hi = hi&^(0xf<<12) | 4<<12   // version 4
	lo = lo&^(0x3<<62) | 0x2<<62 // RFC 4122 variant
	b := make([]byte, 0, 36)
	b = appendHex(b, hi>>32, 8)
	b = append(b, '-')
	b = appendHex(b, hi>>16, 4)
	b = append(b, '-')
	b = appendHex(b, hi, 4)
	b = append(b, '-')
	b = appendHex(b, lo>>48, 4)
	b = append(b, '-')
	b = appendHex(b, lo, 12)
	return string(b)
}

// floorDiv is division rounding towards negative infinity, so that times before the
// epoch fall into the right day.
func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

func ceilDiv(a, b int64) int64 { return -floorDiv(-a, b) }
