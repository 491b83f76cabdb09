package httpapi

import (
	"errors"
	"io"
	"net/http"

	"github.com/costwarden/costwarden/internal/auth"
	"github.com/costwarden/costwarden/internal/query"
	"github.com/costwarden/costwarden/internal/server"
)

// maxCredentialJSON bounds an authenticator's answer.
const maxCredentialJSON = 64 << 10

func readCredential(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxCredentialJSON+1))
	if err != nil {
		return nil, &query.ParamError{Param: "body", Message: "could not be read"}
	}
	if len(b) > maxCredentialJSON {
		return nil, &query.ParamError{Param: "body", Message: "too large for a WebAuthn credential"}
	}
	return b, nil
}

type passkeyBegin struct {
	Name string `json:"name"`
}

func (a *API) passkeyRegisterBegin(r *http.Request) (any, error) {
	var b passkeyBegin
	if err := decodeJSON(r, &b); err != nil {
		return nil, err
	}
	return a.Auth.BeginPasskeyRegistration(r.Context(), principal(r), b.Name)
}

func (a *API) passkeyRegisterFinish(r *http.Request) (any, error) {
	body, err := readCredential(r)
	if err != nil {
		return nil, err
	}
	if err := a.Auth.FinishPasskeyRegistration(r.Context(), principal(r), body); err != nil {
		return nil, err
	}
	return map[string]string{"status": "registered"}, nil
}

func (a *API) passkeyLoginBegin(r *http.Request) (any, error) {
	return a.Auth.BeginPasskeyLogin(r.Context(), server.CookieValue(r, server.LoginCookie))
}

// passkeyLoginFinish answers the script on the second-factor page: the session
// cookie and where to go next.
func (a *API) passkeyLoginFinish(w http.ResponseWriter, r *http.Request) {
	body, err := readCredential(r)
	if err != nil {
		a.writeError(w, r, err)
		return
	}
	ticket := server.CookieValue(r, server.LoginCookie)
	owner, _ := a.Auth.SecretOwner(r.Context(), ticket)
	sess, p, err := a.Auth.FinishPasskeyLogin(r.Context(), ticket, body, client(r))
	a.noteStep(r, owner, p, err, "password+passkey")
	if err != nil {
		if errors.Is(err, auth.ErrUnauthenticated) {
			a.Log.InfoContext(r.Context(), "passkey refused", "request_id", server.RequestID(r.Context()), "reason", err.Error())
		}
		a.writeError(w, r, err)
		return
	}
	server.ClearCookie(w, server.LoginCookie)
	server.SetCookie(w, server.SessionCookie, sess, 0)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"status":"ok","redirect":"/"}` + "\n"))
}
