package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/server"
)

// SCIM 2.0 (RFC 7643, 7644) user provisioning: an identity provider creates
// users, deactivates them (PATCH active=false, which ends their sessions and
// tokens at once) and deletes them. Provisioned users get no role: it comes from
// the SSO group mapping at login, or from an admin.
const (
	scimUserSchema  = "urn:ietf:params:scim:schemas:core:2.0:User"
	scimEnterprise  = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
	scimPatchSchema = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
	scimListSchema  = "urn:ietf:params:scim:api:messages:2.0:ListResponse"
	scimErrorSchema = "urn:ietf:params:scim:api:messages:2.0:Error"
)

// scimError is an error in SCIM's format (RFC 7644 3.12).
type scimError struct {
	Status   int
	ScimType string
	Detail   string
}

func (e *scimError) Error() string { return e.Detail }

func scimBad(scimType, format string, args ...any) error {
	return &scimError{Status: http.StatusBadRequest, ScimType: scimType, Detail: fmt.Sprintf(format, args...)}
}

type scimFunc func(r *http.Request) (int, any, error)

func (a *API) scimHandle(fn scimFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		status, v, err := fn(r)
		if err != nil {
			a.scimWriteError(w, r, err)
			return
		}
		w.Header().Set("Content-Type", "application/scim+json")
		w.WriteHeader(status)
		if v != nil {
			_ = json.NewEncoder(w).Encode(v)
		}
	})
}

func (a *API) scimWriteError(w http.ResponseWriter, r *http.Request, err error) {
	var se *scimError
	switch {
	case errors.As(err, &se):
	case errors.Is(err, auth.ErrInvalid):
		msg, _ := publicMessage(err, auth.ErrInvalid)
		se = &scimError{Status: http.StatusBadRequest, ScimType: "invalidValue", Detail: msg}
	case errors.Is(err, auth.ErrExists):
		se = &scimError{Status: http.StatusConflict, ScimType: "uniqueness", Detail: "a user with this userName or e-mail exists"}
	case errors.Is(err, auth.ErrNoSuchPrincipal), errors.Is(err, auth.ErrNotFound):
		se = &scimError{Status: http.StatusNotFound, Detail: "no such user"}
	default:
		a.Log.ErrorContext(r.Context(), "SCIM request failed", "request_id", server.RequestID(r.Context()), "error", err)
		se = &scimError{Status: http.StatusInternalServerError, Detail: "internal error; request id " + server.RequestID(r.Context())}
	}
	w.Header().Set("Content-Type", "application/scim+json")
	w.WriteHeader(se.Status)
	_ = json.NewEncoder(w).Encode(map[string]any{"schemas": []string{scimErrorSchema}, "status": fmt.Sprint(se.Status), "scimType": se.ScimType, "detail": se.Detail})
}

type scimEmail struct {
	Value   string `json:"value"`
	Primary bool   `json:"primary,omitempty"`
	Type    string `json:"type,omitempty"`
}

type scimName struct {
	Formatted  string `json:"formatted,omitempty"`
	GivenName  string `json:"givenName,omitempty"`
	FamilyName string `json:"familyName,omitempty"`
}

type scimMeta struct {
	ResourceType string     `json:"resourceType"`
	Created      *time.Time `json:"created,omitempty"`
	LastModified *time.Time `json:"lastModified,omitempty"`
	Location     string     `json:"location"`
}

type scimUser struct {
	Schemas     []string    `json:"schemas"`
	ID          string      `json:"id,omitempty"`
	ExternalID  string      `json:"externalId,omitempty"`
	UserName    string      `json:"userName"`
	Name        *scimName   `json:"name,omitempty"`
	DisplayName string      `json:"displayName,omitempty"`
	Active      *bool       `json:"active,omitempty"`
	Emails      []scimEmail `json:"emails,omitempty"`
	Meta        *scimMeta   `json:"meta,omitempty"`
}

func newSCIMUser(p *auth.Principal) scimUser {
	active := p.State != auth.StateDisabled
	u := scimUser{Schemas: []string{scimUserSchema}, ID: p.ID, UserName: p.Name, DisplayName: p.DisplayName, Active: &active,
		Meta: &scimMeta{ResourceType: "User", Created: tp(p.CreatedAt), Location: "/scim/v2/Users/" + p.ID}}
	if p.Email != "" {
		u.Emails = []scimEmail{{Value: p.Email, Primary: true, Type: "work"}}
	}
	return u
}

// readSCIM decodes a SCIM body: wrong JSON types and bodies that are not JSON
// are errors; attributes costwarden does not keep are ignored, as SCIM clients
// expect.
func readSCIM(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !strings.HasPrefix(ct, "application/scim+json") && !strings.HasPrefix(ct, "application/json") {
		return scimBad("invalidSyntax", "Content-Type must be application/scim+json")
	}
	dec := json.NewDecoder(r.Body)
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var ute *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return &scimError{Status: http.StatusRequestEntityTooLarge, ScimType: "invalidSyntax", Detail: "body too large"}
		case errors.As(err, &ute):
			return scimBad("invalidValue", "%s: must be a %s", ute.Field, ute.Type)
		case errors.Is(err, io.EOF):
			return scimBad("invalidSyntax", "a JSON body is required")
		}
		return scimBad("invalidSyntax", "not valid JSON")
	}
	if dec.More() {
		return scimBad("invalidSyntax", "trailing data after the JSON body")
	}
	return nil
}

func checkSchemas(got []string, want string, allowed ...string) error {
	if !slices.Contains(got, want) {
		return scimBad("invalidValue", "schemas: must contain %s", want)
	}
	for _, s := range got {
		if s != want && !slices.Contains(allowed, s) {
			return scimBad("invalidValue", "schemas: %q is not supported", s)
		}
	}
	return nil
}

func (a *API) scimCreate(r *http.Request) (int, any, error) {
	var u scimUser
	if err := readSCIM(r, &u); err != nil {
		return 0, nil, err
	}
	if err := checkSchemas(u.Schemas, scimUserSchema, scimEnterprise); err != nil {
		return 0, nil, err
	}
	if u.UserName == "" {
		return 0, nil, scimBad("invalidValue", "userName: required")
	}
	if err := auth.ValidateUsername(u.UserName); err != nil {
		msg, _ := publicMessage(err, auth.ErrInvalid)
		return 0, nil, scimBad("invalidValue", "userName: %s", strings.TrimPrefix(msg, "username: "))
	}
	email := ""
	for _, e := range u.Emails {
		if email == "" || e.Primary {
			email = e.Value
		}
	}
	display := u.DisplayName
	if display == "" && u.Name != nil {
		display = u.Name.Formatted
	}
	state := ""
	if u.Active != nil && !*u.Active {
		state = auth.StateDisabled
	}
	if len(u.ExternalID) > 256 {
		return 0, nil, scimBad("invalidValue", "externalId: at most 256 characters")
	}
	p, err := a.Auth.AddUser(r.Context(), auth.NewUser{Name: u.UserName, Email: email, DisplayName: display, State: state, Source: "scim", ExternalID: u.ExternalID})
	if err != nil {
		return 0, nil, err
	}
	noteUser(r, p, "")
	return http.StatusCreated, newSCIMUser(p), nil
}

// scimUserOf loads a provisionable user (service accounts are not SCIM users).
func (a *API) scimUserOf(r *http.Request) (*auth.Principal, error) {
	p, err := a.Auth.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	if p.Kind != auth.KindUser {
		return nil, auth.ErrNotFound
	}
	return p, nil
}

func (a *API) scimGet(r *http.Request) (int, any, error) {
	p, err := a.scimUserOf(r)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, newSCIMUser(p), nil
}

var scimFilter = regexp.MustCompile(`^userName eq "([^"]{1,64})"$`)

func (a *API) scimList(r *http.Request) (int, any, error) {
	filter := r.URL.Query().Get("filter")
	var want string
	if filter != "" {
		m := scimFilter.FindStringSubmatch(filter)
		if m == nil {
			return 0, nil, scimBad("invalidFilter", `filter: only userName eq "NAME" is supported`)
		}
		want = m[1]
	}
	ps, err := a.Auth.Users(r.Context())
	if err != nil {
		return 0, nil, err
	}
	res := []scimUser{}
	for _, p := range ps {
		if p.Kind == auth.KindUser && (want == "" || p.Name == want) {
			res = append(res, newSCIMUser(p))
		}
	}
	return http.StatusOK, map[string]any{"schemas": []string{scimListSchema}, "totalResults": len(res), "startIndex": 1, "itemsPerPage": len(res), "Resources": res}, nil
}

type scimPatch struct {
	Schemas    []string `json:"schemas"`
	Operations []struct {
		Op    string          `json:"op"`
		Path  string          `json:"path"`
		Value json.RawMessage `json:"value"`
	} `json:"Operations"`
}

// scimBool reads a boolean SCIM clients send as true or "True".
func scimBool(raw json.RawMessage) (bool, error) {
	var b bool
	if err := json.Unmarshal(raw, &b); err == nil {
		return b, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		switch strings.ToLower(s) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, scimBad("invalidValue", "active: must be true or false")
}

func (a *API) scimPatch(r *http.Request) (int, any, error) {
	p, err := a.scimUserOf(r)
	if err != nil {
		return 0, nil, err
	}
	var patch scimPatch
	if err := readSCIM(r, &patch); err != nil {
		return 0, nil, err
	}
	if err := checkSchemas(patch.Schemas, scimPatchSchema); err != nil {
		return 0, nil, err
	}
	if len(patch.Operations) == 0 {
		return 0, nil, scimBad("invalidValue", "Operations: at least one operation is required")
	}
	var active *bool
	for i, op := range patch.Operations {
		if o := strings.ToLower(op.Op); o != "replace" && o != "add" {
			return 0, nil, scimBad("invalidValue", "Operations[%d].op: only replace is supported", i)
		}
		switch {
		case strings.EqualFold(op.Path, "active"):
			b, err := scimBool(op.Value)
			if err != nil {
				return 0, nil, err
			}
			active = &b
		case op.Path == "":
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(op.Value, &obj); err != nil {
				return 0, nil, scimBad("invalidValue", "Operations[%d].value: must be an object", i)
			}
			for k, v := range obj {
				if !strings.EqualFold(k, "active") {
					return 0, nil, scimBad("invalidPath", "Operations[%d].value.%s: only active can be changed", i, k)
				}
				b, err := scimBool(v)
				if err != nil {
					return 0, nil, err
				}
				active = &b
			}
		default:
			return 0, nil, scimBad("invalidPath", "Operations[%d].path: only active can be changed, got %q", i, op.Path)
		}
	}
	if active != nil {
		if *active && p.State == auth.StateDisabled {
			p, err = a.Auth.Enable(r.Context(), p.ID)
		} else if !*active && p.State != auth.StateDisabled {
			p, err = a.Auth.Disable(r.Context(), p.ID)
		}
		if err != nil {
			return 0, nil, err
		}
	}
	return http.StatusOK, newSCIMUser(p), nil
}

func (a *API) scimDelete(r *http.Request) (int, any, error) {
	p, err := a.scimUserOf(r)
	if err != nil {
		return 0, nil, err
	}
	if err := a.Auth.Delete(r.Context(), p.ID); err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}
