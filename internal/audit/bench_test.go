package audit_test

import (
	"testing"
)

// BenchmarkRecordSQLite measures one audit record on the embedded store: seal,
// hash, and append with the sequence check; and Verify per record.
func BenchmarkRecordSQLite(b *testing.B) {
	f := newFixture(b)
	e := event(1)
	b.ResetTimer()
	for b.Loop() {
		if err := f.a.Record(b.Context(), e); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	rep, err := f.a.Verify(b.Context(), nil)
	if err != nil || !rep.OK {
		b.Fatalf("%+v %v", rep, err)
	}
}
