package apiclient

import (
	"strings"
	"testing"
)

func TestTableAlignsNumbersRightAndText(t *testing.T) {
	var b strings.Builder
	tb := &Table{Head: []string{"NAME", "TOTAL"}, Numeric: []bool{false, true},
		Rows: [][]string{{"payments", "$1,234.50"}, {"ünïcode", "$3.00"}}, Foot: []string{"TOTAL", "$1,237.50"}}
	tb.Write(&b)
	want := "NAME          TOTAL\n" +
		"───────────────────\n" +
		"payments  $1,234.50\n" +
		"ünïcode       $3.00\n" +
		"───────────────────\n" +
		"TOTAL     $1,237.50\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func TestMoney(t *testing.T) {
	m := money("USD")
	for in, want := range map[float64]string{0: "$0.00", -0.0001: "$0.00", 1234567.891: "$1,234,567.89", 12.5: "$12.50", -1500: "$-1,500.00"} {
		if got := m(in); got != want {
			t.Errorf("money(%v) = %q, want %q", in, got, want)
		}
	}
	if got := money("EUR")(3); got != "EUR 3.00" {
		t.Errorf("EUR: %q", got)
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, o := range []Options{{Server: "http://x", Token: "t"}, {Server: "https://x"}, {Server: "::", Token: "t"}, {Server: "https://x", Token: "t", CAFile: "/nonexistent"}} {
		if _, err := New(o); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
	if err := ValidOutput("yaml"); err == nil {
		t.Error("yaml output accepted")
	}
}
