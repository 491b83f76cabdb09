package httpapi

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/costwarden/costwarden/internal/query"
)

// pageReq is a list request's window into its result: limit items from offset.
// The cursor is opaque to clients: they pass back the "next" value they got.
type pageReq struct {
	limit, offset int
}

const cursorPrefix = "o1."

// parsePage reads and removes limit and cursor from v (the rest goes to the
// query parser, which refuses parameters it does not know).
func parsePage(v url.Values, def, maxLimit int) (pageReq, error) {
	p := pageReq{limit: def}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return p, &query.ParamError{Param: "limit", Message: "must be a whole number from 1 to " + strconv.Itoa(maxLimit)}
		}
		p.limit = n
	}
	if s := v.Get("cursor"); s != "" {
		b, err := base64.RawURLEncoding.DecodeString(s)
		off, ok := strings.CutPrefix(string(b), cursorPrefix)
		n, aerr := strconv.Atoi(off)
		if err != nil || !ok || aerr != nil || n < 0 || n > 1<<30 {
			return p, &query.ParamError{Param: "cursor", Message: "not a cursor this server issued (pass the \"next\" value of the previous page)"}
		}
		p.offset = n
	}
	v.Del("limit")
	v.Del("cursor")
	return p, nil
}

// bounds returns the slice bounds of the page over n items, and the cursor of
// the next page ("" on the last).
func (p pageReq) bounds(n int) (lo, hi int, next string) {
	lo = min(p.offset, n)
	hi = min(lo+p.limit, n)
	if hi < n {
		next = base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.Itoa(hi)))
	}
	return lo, hi, next
}

// listPage answers a list route: the page of items that the request's limit and
// cursor select, under key, with "next" when more follow. Items must come in a
// stable order (the store lists by creation).
func listPage[T any](r *http.Request, key string, items []T) (map[string]any, error) {
	p, err := parsePage(r.URL.Query(), 100, 500)
	if err != nil {
		return nil, err
	}
	lo, hi, next := p.bounds(len(items))
	out := map[string]any{key: items[lo:hi], "count": len(items)}
	if next != "" {
		out["next"] = next
	}
	return out, nil
}

// parseSort reads and removes sort from v: a field name, descending with a
// leading "-". allowed lists the fields; def is used when sort is absent.
func parseSort(v url.Values, def string, allowed []string) (field string, desc bool, err error) {
	s := v.Get("sort")
	v.Del("sort")
	if s == "" {
		s = def
	}
	desc = strings.HasPrefix(s, "-")
	field = strings.TrimPrefix(s, "-")
	for _, a := range allowed {
		if a == field {
			return field, desc, nil
		}
	}
	return "", false, &query.ParamError{Param: "sort", Message: "must be one of " + strings.Join(allowed, ", ") + " (prefix - for descending)"}
}
