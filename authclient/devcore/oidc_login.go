package devcore

import (
	"bytes"
	"html/template"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/go-chi/chi/v5"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/model"
)

// maxFormValue bounds one login form value handed to the flow engine.
const maxFormValue = 1024

// pageTemplate is the one plain HTML page devcore serves to browsers: a
// flow stage form, or a message (denied, logged out, errors). No
// JavaScript; element ids are stable for browser tests.
var pageTemplate = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} - devcore</title>
<style>
body{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#222}
label,input,button{display:block;width:100%;box-sizing:border-box;margin:.4rem 0}
input,button{padding:.5rem;font-size:1rem}
.error{color:#a00}
</style>
</head>
<body>
<main>
<h1 id="title">{{.Title}}</h1>
{{if .PendingUser}}<p id="pending-user">{{.PendingUser}}</p>{{end}}
{{range .Errors}}<p class="error" role="alert">{{.}}</p>
{{end}}{{range .Messages}}<p class="message">{{.}}</p>
{{end}}{{if .Fields}}<form method="post" action="{{.Action}}" id="flow-form">
{{range .Fields}}<label for="{{.Name}}">{{.Label}}</label>
<input id="{{.Name}}" name="{{.Name}}" type="{{.Type}}" autocomplete="{{.Autocomplete}}"{{if .Numeric}} inputmode="numeric"{{end}}{{if .Autofocus}} autofocus{{end}} required>
{{end}}<button type="submit" id="submit">{{.Submit}}</button>
</form>
{{end}}</main>
</body>
</html>
`))

type pageField struct {
	Name, Label, Type, Autocomplete string
	Numeric, Autofocus              bool
}

type pageData struct {
	Title       string
	PendingUser string
	Errors      []string
	Messages    []string
	Action      string
	Fields      []pageField
	Submit      string
}

func renderPage(w http.ResponseWriter, status int, d pageData) {
	var buf bytes.Buffer
	if err := pageTemplate.Execute(&buf, d); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// parseLoginForm turns a posted stage form into the challenge response the
// flow engine takes; unknown fields are dropped and values are bounded.
func parseLoginForm(form url.Values) map[string]any {
	body := map[string]any{}
	for _, k := range []string{"uid_field", "password", "code"} {
		vals, ok := form[k]
		if !ok || len(vals) == 0 {
			continue
		}
		val := vals[0]
		if len(val) > maxFormValue {
			val = val[:maxFormValue]
		}
		body[k] = val
	}
	return body
}

func flattenErrors(errs *map[string][]api.ErrorDetail) []string {
	if errs == nil {
		return nil
	}
	keys := make([]string, 0, len(*errs))
	for k := range *errs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		for _, e := range (*errs)[k] {
			out = append(out, e.String)
		}
	}
	return out
}

// safeLocal keeps a redirect on this host: browsers read "/\\x" like
// "//x", so only plain absolute paths pass.
func safeLocal(to string) string {
	if !strings.HasPrefix(to, "/") || strings.HasPrefix(to, "//") || strings.ContainsAny(to, "\\\x00\r\n\t") {
		return "/"
	}
	return to
}

func uidLabel(fields []string) string {
	switch {
	case len(fields) == 1 && fields[0] == "email":
		return "Email"
	case len(fields) > 1:
		return "Email or Username"
	}
	return "Username"
}

// handleFlowPage serves /if/flow/<slug>/: the flow engine behind the
// executor API, rendered as plain HTML forms for browsers. It shares the
// authentik_session cookie and the sessions with the executor API.
func (s *Server) handleFlowPage(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	flow, ok := v.flowBySlug[chi.URLParam(r, "slug")]
	if !ok {
		renderPage(w, http.StatusNotFound, pageData{Title: "Not found", Messages: []string{"No such flow."}})
		return
	}
	var body map[string]any
	if r.Method == http.MethodPost {
		if err := readForm(w, r); err != nil {
			renderPage(w, http.StatusBadRequest, pageData{Title: "Bad request", Messages: []string{"The form could not be read."}})
			return
		}
		body = parseLoginForm(r.PostForm)
	}
	sess := s.sessions.lookup(r)
	if sess == nil {
		var err error
		if sess, err = s.sessions.create(); err != nil {
			renderPage(w, http.StatusInternalServerError, pageData{Title: "Error", Messages: []string{msgInternalError}})
			return
		}
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	wasAuthenticated := sess.userPK != 0
	sess.clientIP = clientIP(r, nil)
	query := r.URL.RawQuery

	var out any
	if wasAuthenticated && r.Method == http.MethodGet && orDefault(flow.Designation, "authentication") == "authentication" {
		// Already logged in: carry on to where the login was for.
		out = redirect(nextURL(query))
	}
	restart := sess.plan == nil || sess.plan.flow.Slug != flow.Slug || r.Method == http.MethodGet
	if out == nil && restart {
		plan, denied := s.planFlow(v, sess, flow, nil, query)
		if denied != nil {
			sess.plan = nil
			out = denied
		} else {
			sess.plan = plan
			s.oidc.setLogin(sess.id, loginInfo{})
		}
	}
	var plan *flowPlan
	if out == nil {
		plan = sess.plan
		if r.Method == http.MethodPost && !restart {
			var kind string
			if plan.idx < len(plan.stages) {
				kind = plan.stages[plan.idx].Kind
			}
			before := plan.idx
			out = s.submit(v, sess, body)
			if kind == model.StageAuthenticatorValidate && plan.idx > before {
				l, _ := s.oidc.login(sess.id)
				l.mfa = true
				s.oidc.setLogin(sess.id, l)
			}
		} else {
			// A GET, or a POST whose flow state is gone: show the
			// current (first) stage.
			out = s.advance(v, sess)
		}
	}
	if !wasAuthenticated && sess.userPK != 0 && plan != nil {
		l, _ := s.oidc.login(sess.id)
		var amr []string
		if plan.passwordDone {
			amr = append(amr, "pwd")
			if l.mfa {
				amr = append(amr, "mfa")
			}
		}
		s.oidc.setLogin(sess.id, loginInfo{at: s.cfg.Now(), amr: amr})
	}
	if u, ok := v.userByPK[sess.userPK]; ok {
		s.sessions.recordIP(u.Username, sess.clientIP)
	}
	if wasAuthenticated != (sess.userPK != 0) || !cookieMatches(r, s.sessions, sess) {
		value, err := s.sessions.cookieValue(sess, sess.userPK != 0)
		if err != nil {
			renderPage(w, http.StatusInternalServerError, pageData{Title: "Error", Messages: []string{msgInternalError}})
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
			Secure: r.TLS != nil,
		})
	}
	s.logFlowOutcome(flow, sess, out)
	s.renderChallenge(w, r, flow, out)
}

func (s *Server) renderChallenge(w http.ResponseWriter, r *http.Request, flow *model.Flow, out any) {
	title := orDefault(flow.Title, flow.Name)
	action := r.URL.RequestURI()
	switch c := out.(type) {
	case api.RedirectChallenge:
		http.Redirect(w, r, safeLocal(c.To), http.StatusFound)
	case api.AccessDeniedChallenge:
		renderPage(w, http.StatusForbidden, pageData{Title: "Permission denied", PendingUser: c.PendingUser,
			Messages: []string{c.GetErrorMessage()}})
	case api.IdentificationChallenge:
		fields := []pageField{{Name: "uid_field", Label: uidLabel(c.UserFields), Type: "text", Autocomplete: "username", Autofocus: true}}
		if c.PasswordFields {
			fields = append(fields, pageField{Name: "password", Label: "Password", Type: "password", Autocomplete: "current-password"})
		}
		renderPage(w, http.StatusOK, pageData{Title: title, Errors: flattenErrors(c.ResponseErrors),
			Action: action, Fields: fields, Submit: c.PrimaryAction})
	case api.PasswordChallenge:
		renderPage(w, http.StatusOK, pageData{Title: title, PendingUser: c.PendingUser, Errors: flattenErrors(c.ResponseErrors),
			Action: action, Submit: "Continue",
			Fields: []pageField{{Name: "password", Label: "Password", Type: "password", Autocomplete: "current-password", Autofocus: true}}})
	case api.AuthenticatorValidationChallenge:
		renderPage(w, http.StatusOK, pageData{Title: title, PendingUser: c.PendingUser, Errors: flattenErrors(c.ResponseErrors),
			Action: action, Submit: "Continue", Messages: []string{"Enter the code from your authenticator app or a recovery code."},
			Fields: []pageField{{Name: "code", Label: "Code", Type: "text", Autocomplete: "one-time-code", Numeric: true, Autofocus: true}}})
	default:
		renderPage(w, http.StatusInternalServerError, pageData{Title: "Error", Messages: []string{"This flow has a stage devcore cannot show."}})
	}
}
