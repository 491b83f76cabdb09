// Package oidc is costwarden's OpenID Connect relying party: the authorization
// code flow with PKCE (S256), state and nonce, ID tokens checked for the exact
// issuer, this client as audience (and authorized party), an allowed asymmetric
// signature algorithm, expiry, and optionally the provider's assertion of MFA
// (amr/acr); group claims map to a role and scope.
//
// It vouches for an identity (auth.ExternalIdentity); it must not create
// accounts or sessions (internal/auth does) or decide permissions.
package oidc

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/rbac"
)

// Mapping gives the members of Group a role and scope.
type Mapping struct {
	Group string
	Role  rbac.Role
	Scope rbac.Scope
}

// Config configures the relying party.
type Config struct {
	Issuer        string
	ClientID      string
	ClientSecret  string // empty: public client (PKCE only)
	RedirectURL   string
	Scopes        []string // besides openid
	UsernameClaim string
	GroupsClaim   string
	Mappings      []Mapping // first match wins
	RequireAMR    []string  // one of these must be in amr
	RequireACR    []string  // acr must be one of these
	Algorithms    []string  // accepted ID-token signature algorithms
	DisplayName   string
	HTTPClient    *http.Client // for discovery, JWKS and the token endpoint
	// Discovered, if set, is called once with the token endpoint and JWKS URLs
	// of the discovery document (the egress allowlist adds their hosts).
	Discovered func(urls []string)
	Now        func() time.Time
}

// Client is a configured relying party. Discovery happens on first use (and
// is retried on later ones if the provider was down).
type Client struct {
	cfg Config

	mu       sync.Mutex
	provider *gooidc.Provider
}

// New returns a client; it does not contact the provider yet.
func New(cfg Config) (*Client, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.RedirectURL == "" {
		return nil, errors.New("oidc: issuer, client ID and redirect URL are required")
	}
	for _, alg := range cfg.Algorithms {
		if alg == "none" || strings.HasPrefix(alg, "HS") {
			return nil, fmt.Errorf("oidc: algorithm %q is not accepted", alg)
		}
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = []string{gooidc.RS256, gooidc.ES256}
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 15 * time.Second}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = "preferred_username"
	}
	return &Client{cfg: cfg}, nil
}

// Name is the provider's display name.
func (c *Client) Name() string {
	if c.cfg.DisplayName != "" {
		return c.cfg.DisplayName
	}
	return "single sign-on"
}

func (c *Client) ctx(ctx context.Context) context.Context {
	return gooidc.ClientContext(ctx, c.cfg.HTTPClient)
}

func (c *Client) discover(ctx context.Context) (*gooidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, nil
	}
	// go-oidc refuses a discovery document whose issuer is not exactly ours.
	p, err := gooidc.NewProvider(c.ctx(ctx), c.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("oidc: discovery of %s: %w", c.cfg.Issuer, err)
	}
	if c.cfg.Discovered != nil {
		var doc struct {
			Token string `json:"token_endpoint"`
			JWKS  string `json:"jwks_uri"`
		}
		if err := p.Claims(&doc); err == nil {
			c.cfg.Discovered([]string{doc.Token, doc.JWKS})
		}
	}
	c.provider = p
	return p, nil
}

func (c *Client) oauth(p *gooidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: c.cfg.ClientID, ClientSecret: c.cfg.ClientSecret, RedirectURL: c.cfg.RedirectURL,
		Endpoint: p.Endpoint(), Scopes: append([]string{gooidc.ScopeOpenID}, c.cfg.Scopes...)}
}

// flow is what the browser carries between Start and Finish (in an HttpOnly
// __Host- cookie): the values an attacker would need to replay or inject a
// response, bound to this browser.
type flow struct {
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	Expires  int64  `json:"e"`
}

func random() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// Start returns the provider's authorization URL and the cookie value holding
// the flow's state, nonce and PKCE verifier (valid 10 minutes).
func (c *Client) Start(ctx context.Context) (string, string, error) {
	p, err := c.discover(ctx)
	if err != nil {
		return "", "", err
	}
	var f flow
	if f.State, err = random(); err != nil {
		return "", "", err
	}
	if f.Nonce, err = random(); err != nil {
		return "", "", err
	}
	f.Verifier = oauth2.GenerateVerifier()
	f.Expires = c.cfg.Now().Add(10 * time.Minute).Unix()
	u := c.oauth(p).AuthCodeURL(f.State, gooidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier))
	b, _ := json.Marshal(f)
	return u, base64.RawURLEncoding.EncodeToString(b), nil
}

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: oidc: %s", auth.ErrUnauthenticated, fmt.Sprintf(format, args...))
}

// Finish checks the callback against the flow cookie, redeems the code (with
// the PKCE verifier), verifies the ID token and returns the identity. Every
// refusal wraps auth.ErrUnauthenticated.
func (c *Client) Finish(ctx context.Context, cookie string, q url.Values) (auth.ExternalIdentity, error) {
	var none auth.ExternalIdentity
	raw, err := base64.RawURLEncoding.DecodeString(cookie)
	var f flow
	if err != nil || cookie == "" || json.Unmarshal(raw, &f) != nil || f.State == "" || f.Nonce == "" || f.Verifier == "" {
		return none, refuse("no login in progress in this browser (missing or malformed flow cookie)")
	}
	if c.cfg.Now().Unix() >= f.Expires {
		return none, refuse("the login took too long")
	}
	if e := q.Get("error"); e != "" {
		return none, refuse("the provider refused: %.100q", e)
	}
	state := q.Get("state")
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		return none, refuse("state missing or different from the one sent")
	}
	code := q.Get("code")
	if code == "" {
		return none, refuse("no authorization code")
	}
	p, err := c.discover(ctx)
	if err != nil {
		return none, err
	}
	tok, err := c.oauth(p).Exchange(c.ctx(ctx), code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		return none, refuse("redeeming the code: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if rawID == "" {
		return none, refuse("no id_token in the token response")
	}
	verifier := p.Verifier(&gooidc.Config{ClientID: c.cfg.ClientID, SupportedSigningAlgs: c.cfg.Algorithms, Now: c.cfg.Now})
	idt, err := verifier.Verify(ctx, rawID)
	if err != nil {
		return none, refuse("ID token: %v", err)
	}
	if idt.Issuer != c.cfg.Issuer {
		return none, refuse("ID token issuer %q is not %q", idt.Issuer, c.cfg.Issuer)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return none, refuse("ID token nonce differs from the one sent")
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		return none, refuse("ID token claims: %v", err)
	}
	if len(idt.Audience) > 1 {
		if azp, _ := claims["azp"].(string); azp != c.cfg.ClientID {
			return none, refuse("ID token with several audiences names another authorized party")
		}
	}
	if err := c.checkMFA(claims); err != nil {
		return none, err
	}
	return c.identity(idt, claims)
}

func (c *Client) checkMFA(claims map[string]any) error {
	if len(c.cfg.RequireAMR) > 0 {
		amr := stringsOf(claims["amr"])
		if !slices.ContainsFunc(amr, func(s string) bool { return slices.Contains(c.cfg.RequireAMR, s) }) {
			return refuse("the provider did not assert MFA (amr %v, need one of %v)", amr, c.cfg.RequireAMR)
		}
	}
	if len(c.cfg.RequireACR) > 0 {
		acr, _ := claims["acr"].(string)
		if !slices.Contains(c.cfg.RequireACR, acr) {
			return refuse("the provider's acr %q is not one of %v", acr, c.cfg.RequireACR)
		}
	}
	return nil
}

func (c *Client) identity(idt *gooidc.IDToken, claims map[string]any) (auth.ExternalIdentity, error) {
	username, _ := claims[c.cfg.UsernameClaim].(string)
	email, _ := claims["email"].(string)
	verified, _ := claims["email_verified"].(bool)
	name, _ := claims["name"].(string)
	if username == "" {
		return auth.ExternalIdentity{}, refuse("the ID token has no %s claim", c.cfg.UsernameClaim)
	}
	id := auth.ExternalIdentity{SubjectKey: idt.Issuer + "|" + idt.Subject, Username: strings.ToLower(username), Email: email, EmailVerified: verified, DisplayName: name}
	if c.cfg.GroupsClaim != "" {
		groups := stringsOf(claims[c.cfg.GroupsClaim])
		for _, m := range c.cfg.Mappings {
			if slices.Contains(groups, m.Group) {
				id.Mapped, id.Role, id.Scope = true, m.Role, m.Scope
				break
			}
		}
	}
	return id, nil
}

// stringsOf reads a claim that is a string or a list of strings.
func stringsOf(v any) []string {
	switch x := v.(type) {
	case string:
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}
