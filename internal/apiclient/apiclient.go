// Package apiclient is the terminal client of costwarden's API: it asks a
// server for allocations, assets or right-sizing recommendations with an API
// token over verified TLS, and prints the answer as an aligned table with
// totals, as JSON, or as CSV (`costwarden query ...`).
//
// It speaks HTTP to a server only; it must not open the data directory or
// compute costs.
package apiclient

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Options configure a client.
type Options struct {
	Server string // https://host:port
	Token  string
	// CAFile is a PEM bundle trusted for the server's certificate (empty: the
	// system roots).
	CAFile string
	// InsecureSkipVerify turns certificate verification off (tests, and
	// nothing else: the caller prints a warning).
	InsecureSkipVerify bool
	Timeout            time.Duration
}

// Client calls one server.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New checks the options and builds a client.
func New(o Options) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(o.Server, "/"))
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("--server: %q is not a URL (https://host:port)", o.Server)
	}
	if u.Scheme != "https" {
		return nil, fmt.Errorf("--server: %q must use https (costwarden serves only TLS)", o.Server)
	}
	if o.Token == "" {
		return nil, errors.New("no API token: set COSTWARDEN_TOKEN or pass --token-file")
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: o.InsecureSkipVerify} // #nosec G402 -- opt-in (--insecure-skip-verify) for a test server, warned
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca: %s holds no PEM certificate", o.CAFile)
		}
		tc.RootCAs = pool
	}
	if o.Timeout == 0 {
		o.Timeout = 5 * time.Minute
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	return &Client{base: u, token: o.Token, http: &http.Client{Timeout: o.Timeout, Transport: tr}}, nil
}

// ReadTokenFile reads a token from a file (one line).
func ReadTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("--token-file: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("--token-file: %s is empty", path)
	}
	return t, nil
}

// APIError is an error answer of the server.
type APIError struct {
	Status    int
	Message   string
	Field     string
	RequestID string
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("server answered %d: %s", e.Status, e.Message)
	if e.Field != "" {
		s += " (parameter " + e.Field + ")"
	}
	if e.RequestID != "" {
		s += " [request " + e.RequestID + "]"
	}
	return s
}

// open GETs path?q and returns the body of a 2xx answer.
func (c *Client) open(ctx context.Context, path string, q url.Values) (io.ReadCloser, error) {
	u := *c.base
	u.Path = strings.TrimRight(u.Path, "/") + path
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("User-Agent", "costwarden-query")
	resp, err := c.http.Do(req)
	if err != nil {
		var ue *tls.CertificateVerificationError
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("cannot verify the server's certificate (%v): pass its CA with --ca FILE", ue.Err)
		}
		return nil, fmt.Errorf("calling %s: %w", c.base.Host, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		var eb struct {
			Message   string `json:"message"`
			Field     string `json:"field"`
			RequestID string `json:"requestId"`
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &eb) != nil || eb.Message == "" {
			eb.Message = strings.TrimSpace(string(b))
		}
		return nil, &APIError{Status: resp.StatusCode, Message: eb.Message, Field: eb.Field, RequestID: eb.RequestID}
	}
	return resp.Body, nil
}

func (c *Client) getJSON(ctx context.Context, path string, q url.Values, v any) error {
	body, err := c.open(ctx, path, q)
	if err != nil {
		return err
	}
	defer body.Close()
	if err := json.NewDecoder(body).Decode(v); err != nil {
		return fmt.Errorf("reading the answer of %s: %w", path, err)
	}
	return nil
}
