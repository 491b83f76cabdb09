// Package web holds costwarden's browser pages: server-rendered html/template
// templates and the static assets they use (CSS, plain ES-module JavaScript, an
// icon), embedded in the binary, so the dashboard works offline with no build
// step.
//
// The login, setup and account pages work without JavaScript; the dashboard
// pages are shells that static/*.js fills from the JSON API. Nothing contains
// inline script or style: the Content-Security-Policy forbids both, and the
// scripts put text into the page only as text (textContent), never as HTML. The package renders; it must not decide
// who may see a page (internal/server and internal/rbac do) or hold business
// logic (handlers in internal/httpapi fill the page data).
package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"time"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// Pages renders the embedded templates.
type Pages struct {
	t *template.Template
}

// New parses the templates.
func New() (*Pages, error) {
	t, err := template.New("").Funcs(template.FuncMap{
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
	}).ParseFS(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("web: parsing templates: %w", err)
	}
	return &Pages{t: t}, nil
}

// Render writes page name with data and status. It renders into a buffer first,
// so a template error becomes a 500 instead of half a page.
func (p *Pages) Render(w http.ResponseWriter, status int, name string, data any) error {
	var buf bytes.Buffer
	if err := p.t.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("web: rendering %s: %w", name, err)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, err := w.Write(buf.Bytes())
	return err
}

// Static is the file system of static assets (paths without the static/ prefix).
func Static() fs.FS {
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		panic(err) // the embed pattern guarantees the directory exists
	}
	return sub
}
