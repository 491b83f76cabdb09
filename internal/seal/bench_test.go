package seal

import (
	"fmt"
	"testing"
)

var benchSizes = []int{1 << 10, 1 << 20}

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

func BenchmarkSeal(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			f := newFixture(b, Options{})
			pt := make([]byte, n)
			mustSeal(b, f.ring, adWindow, pt) // create the key outside the loop
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.ring.Seal(ctx, adWindow, pt); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, n := range benchSizes {
		b.Run(sizeName(n), func(b *testing.B) {
			f := newFixture(b, Options{})
			blob := mustSeal(b, f.ring, adWindow, make([]byte, n))
			b.SetBytes(int64(n))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.ring.Open(ctx, adWindow, blob); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkBlindIndex(b *testing.B) {
	f := newFixture(b, Options{})
	if _, err := f.ring.BlindIndex(ctx, "t1", "cluster", "prod"); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := f.ring.BlindIndex(ctx, "t1", "cluster", "prod"); err != nil {
			b.Fatal(err)
		}
	}
}
