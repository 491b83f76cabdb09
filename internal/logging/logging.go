// Package logging builds costwarden's process logger: structured JSON (or
// text) through log/slog, with a redaction guarantee: credentials are removed
// from every message and attribute before a line is written, whether they
// arrive under a telling key (password, secret, authorization, cookie, ...) or
// inside a string (an API token, a setup code, a bearer header, a private key
// block, a password in a URL or an error message). User-controlled strings
// cannot forge or break lines: the JSON handler escapes them, and control
// characters are escaped in both formats.
//
// It must not log anything itself.
package logging

import (
	"context"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"unicode"
)

// Redacted replaces a removed credential.
const Redacted = "[redacted]"

// New returns a logger writing JSON ("json") or logfmt-like text ("text") at
// level (debug, info, warn, error) to w, with redaction.
func New(w io.Writer, level, format string) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lvl}
	var h slog.Handler
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	} else {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(&Handler{next: h})
}

// sensitiveKey matches attribute keys whose values are credentials.
var sensitiveKey = regexp.MustCompile(`(?i)^(password|passwd|pass|new_password|current|secret|client_secret|secret_key|private_key|authorization|proxy_authorization|cookie|set_cookie|session_secret|setup_code|setup|code|otp|totp|totp_secret|recovery_code|recovery|api_key|apikey|access_key|secret_access_key|bearer|credentials?|token_secret|passphrase)$`)

// secretValue matches credentials inside strings.
var secretValue = regexp.MustCompile(`(?i)cw(?:t|scim|setup)_[A-Za-z0-9_\-]{20,}` + // costwarden tokens and setup codes
	`|(?i:bearer|basic)\s+[A-Za-z0-9._~+/=\-]{8,}` + // Authorization header values
	`|(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}` + // AWS access key ids
	`|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)` +
	`|(?i)(?:password|passwd|secret|token)=[^\s&"';]+` + // key=value in URLs and messages
	`|://[^/\s:@]+:[^/\s@]+@`) // user:password@ in URLs

// Scrub removes credentials from s and escapes control characters.
func Scrub(s string) string {
	if secretValue.MatchString(s) {
		s = secretValue.ReplaceAllStringFunc(s, func(m string) string {
			if strings.HasPrefix(m, "://") {
				return "://" + Redacted + "@"
			}
			if i := strings.IndexByte(m, '='); i > 0 && i < 16 && !strings.HasPrefix(strings.ToLower(m), "bearer") {
				return m[:i+1] + Redacted
			}
			return Redacted
		})
	}
	if strings.IndexFunc(s, isControl) >= 0 {
		var b strings.Builder
		for _, r := range s {
			if isControl(r) {
				b.WriteString(strings.Trim(quoteRune(r), "'"))
				continue
			}
			b.WriteRune(r)
		}
		s = b.String()
	}
	return s
}

func isControl(r rune) bool {
	return (unicode.IsControl(r) && r != '\t') || r == '\u2028' || r == '\u2029'
}

func quoteRune(r rune) string {
	const hex = "0123456789abcdef"
	if r < 0x10000 {
		return `\u` + string([]byte{hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf]})
	}
	return `\U` + strings.Repeat("0", 3) + string([]byte{hex[r>>16&0xf], hex[r>>12&0xf], hex[r>>8&0xf], hex[r>>4&0xf], hex[r&0xf]})
}

// Handler redacts records before the next handler writes them.
type Handler struct {
	next slog.Handler
}

// Enabled implements slog.Handler.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool { return h.next.Enabled(ctx, l) }

// Handle implements slog.Handler.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Scrub(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redact(a))
		return true
	})
	return h.next.Handle(ctx, out)
}

// WithAttrs implements slog.Handler.
func (h *Handler) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redact(a)
	}
	return &Handler{next: h.next.WithAttrs(red)}
}

// WithGroup implements slog.Handler.
func (h *Handler) WithGroup(name string) slog.Handler { return &Handler{next: h.next.WithGroup(name)} }

func redact(a slog.Attr) slog.Attr {
	a.Value = a.Value.Resolve()
	if sensitiveKey.MatchString(strings.ReplaceAll(a.Key, "-", "_")) {
		return slog.String(a.Key, Redacted)
	}
	switch a.Value.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Scrub(a.Value.String()))
	case slog.KindGroup:
		g := a.Value.Group()
		out := make([]any, len(g))
		for i, x := range g {
			out[i] = redact(x)
		}
		return slog.Group(a.Key, out...)
	case slog.KindAny:
		// Errors, Stringers and structs are rendered here so that what they
		// print is scrubbed too.
		switch v := a.Value.Any().(type) {
		case error:
			return slog.String(a.Key, Scrub(v.Error()))
		case interface{ String() string }:
			return slog.String(a.Key, Scrub(v.String()))
		case []string:
			c := make([]string, len(v))
			for i, s := range v {
				c[i] = Scrub(s)
			}
			return slog.Any(a.Key, c)
		}
	}
	return a
}
