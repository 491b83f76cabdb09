package httpapi

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"github.com/costwarden/costwarden/internal/allocation"
)

// jsonWriter is a response that writes its own JSON, row by row, instead of being
// marshalled whole: a week of hourly steps by controller is tens of megabytes.
type jsonWriter interface {
	WriteJSON(w io.Writer) error
}

// allocationStream writes OpenCost's allocation response shape:
// {"code":200,"data":[{name: row, ...}, ...],"warnings":[...]}.
type allocationStream struct {
	results  []*allocation.Result
	warnings []string
}

func newAllocationStream(results []*allocation.Result) *allocationStream {
	s := &allocationStream{results: results}
	seen := map[string]bool{}
	for _, res := range results {
		for _, w := range res.Warnings {
			if !seen[w] {
				seen[w] = true
				s.warnings = append(s.warnings, w)
			}
		}
	}
	return s
}

func (s *allocationStream) WriteJSON(out io.Writer) error {
	w := bufio.NewWriterSize(out, 64<<10)
	w.WriteString(`{"code":` + strconv.Itoa(http.StatusOK) + `,"data":[`)
	var row []byte
	for i, res := range s.results {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteByte('{')
		for j, al := range res.Allocations {
			if j > 0 {
				w.WriteByte(',')
			}
			row = appendJSONString(row[:0], al.Name)
			row = append(row, ':')
			var err error
			if row, err = newAllocationJSON(al).appendJSON(row); err != nil {
				return err
			}
			w.Write(row)
		}
		w.WriteByte('}')
		// Rows already written are not needed again.
		s.results[i] = nil
	}
	w.WriteByte(']')
	if len(s.warnings) > 0 {
		b, err := json.Marshal(s.warnings)
		if err != nil {
			return err
		}
		w.WriteString(`,"warnings":`)
		w.Write(b)
	}
	w.WriteString("}\n")
	return w.Flush()
}
