package devcore

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	api "goauthentik.io/api/v3"

	"github.com/outpost-go/outposts/authclient/devcore/model"
	"github.com/outpost-go/outposts/authclient/totp"
)

// maxChallengeBody bounds a flow challenge response.
const maxChallengeBody = 64 << 10

// maxPasswordAttempts mirrors the password stage's default
// failed_attempts_before_cancel.
const maxPasswordAttempts = 5

// Wordings from authentik's stages.
const (
	msgInvalidPassword = "Invalid password"
	msgFailedAuth      = "Failed to authenticate."
	msgNoIdentifier    = "No identification data provided."
	msgInvalidTOTP     = "Invalid Token. Please ensure the time on your device is accurate and try again."
	msgInvalidToken    = "Invalid Token."
	msgNotApplicable   = "Flow does not apply to current user."
	msgNoDevice        = "No (allowed) MFA authenticator configured."
	msgUnknownDevice   = "Unknown device."
	msgInactive        = "User is not active."
	msgTooManyAttempts = "Too many failed password attempts."
)

// flowPlan is the state of one flow execution in a session.
type flowPlan struct {
	flow   *model.Flow
	stages []*model.Stage
	idx    int
	query  string

	// pendingUser is the identified user; nil with pendingUID set when the
	// identifier matched nobody (the flow carries on, to not reveal that).
	pendingUser *model.User
	pendingUID  string
	// passwordDone is set when an identification stage checked the password.
	passwordDone   bool
	passwordFailed int
}

func (p *flowPlan) pendingName() string {
	if p.pendingUser != nil {
		return p.pendingUser.Username
	}
	return p.pendingUID
}

// step is what the executor answers: a challenge, or a finished flow.
type step struct {
	body any
}

func flowInfo(f *model.Flow) *api.ContextualFlowInfo {
	title := f.Title
	if title == "" {
		title = f.Name
	}
	return &api.ContextualFlowInfo{
		Title:     strPtr(title),
		CancelUrl: "/flows/-/cancel/",
		Layout:    api.CONTEXTUALFLOWINFOLAYOUTENUM_STACKED,
	}
}

func errorsFor(field, msg, code string) *map[string][]api.ErrorDetail {
	m := map[string][]api.ErrorDetail{field: {{String: msg, Code: code}}}
	return &m
}

func accessDenied(f *model.Flow, pending, msg string) api.AccessDeniedChallenge {
	return api.AccessDeniedChallenge{
		FlowInfo:          flowInfo(f),
		Component:         strPtr("ak-stage-access-denied"),
		PendingUser:       pending,
		PendingUserAvatar: defaultAvatar,
		ErrorMessage:      strPtr(msg),
	}
}

func redirect(to string) api.RedirectChallenge {
	return api.RedirectChallenge{Component: strPtr("xak-flow-redirect"), To: to}
}

// handleExecutor serves GET and POST /api/v3/flows/executor/{slug}/.
func (s *Server) handleExecutor(w http.ResponseWriter, r *http.Request) {
	v := s.view.Load()
	flow, ok := v.flowBySlug[chi.URLParam(r, "slug")]
	if !ok {
		writeDetail(w, http.StatusNotFound, msgNotFound)
		return
	}
	outpost, present := outpostFromHeader(r, v)
	if present && outpost == nil {
		writeDetail(w, http.StatusForbidden, msgTokenInvalid)
		return
	}
	var body map[string]any
	if r.Method == http.MethodPost {
		data, err := io.ReadAll(io.LimitReader(r.Body, maxChallengeBody+1))
		if err != nil {
			writeDetail(w, http.StatusBadRequest, "could not read request body")
			return
		}
		if len(data) > maxChallengeBody {
			writeDetail(w, http.StatusRequestEntityTooLarge, "Request body too large.")
			return
		}
		if err := json.Unmarshal(data, &body); err != nil || body == nil {
			writeDetail(w, http.StatusBadRequest, "JSON parse error - expected a JSON object")
			return
		}
	}

	sess := s.sessions.lookup(r)
	if sess == nil {
		var err error
		if sess, err = s.sessions.create(); err != nil {
			writeDetail(w, http.StatusInternalServerError, msgInternalError)
			return
		}
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	wasAuthenticated := sess.userPK != 0

	sess.clientIP = clientIP(r, outpost)
	if outpost != nil {
		sess.outpost = outpost.Name
	}

	query := r.URL.Query().Get("query")
	var out any
	if sess.plan == nil || sess.plan.flow.Slug != flow.Slug || (r.Method == http.MethodGet && sess.plan.idx == 0) {
		plan, denied := s.planFlow(v, sess, flow, outpost, query)
		if denied != nil {
			sess.plan = nil
			out = denied
		} else {
			sess.plan = plan
		}
	}
	if out == nil {
		if r.Method == http.MethodPost {
			out = s.submit(v, sess, body)
		} else {
			out = s.advance(v, sess)
		}
	}
	if sess.plan != nil {
		s.sessions.recordIP(knownUser(v, sess.plan.pendingUser), sess.clientIP)
	}
	if u, ok := v.userByPK[sess.userPK]; ok {
		s.sessions.recordIP(u.Username, sess.clientIP)
	}

	// The cookie is (re)issued on a session's first response and whenever
	// its authentication state changes, as authentik rotates it on login.
	if wasAuthenticated != (sess.userPK != 0) || !cookieMatches(r, s.sessions, sess) {
		value, err := s.sessions.cookieValue(sess, sess.userPK != 0)
		if err != nil {
			writeDetail(w, http.StatusInternalServerError, msgInternalError)
			return
		}
		http.SetCookie(w, &http.Cookie{
			Name: sessionCookie, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		})
	}
	s.logFlowOutcome(flow, sess, out)
	writeJSON(w, http.StatusOK, out)
}

// logFlowOutcome writes one line per finished or failed flow step; never
// the submitted values.
func (s *Server) logFlowOutcome(f *model.Flow, sess *session, out any) {
	var msg, pending, reason string
	switch c := out.(type) {
	case api.RedirectChallenge:
		msg = "flow completed"
	case api.AccessDeniedChallenge:
		msg, pending, reason = "flow denied", c.PendingUser, c.GetErrorMessage()
	case api.IdentificationChallenge:
		if c.ResponseErrors != nil {
			msg = "identification rejected"
		}
	case api.PasswordChallenge:
		if c.ResponseErrors != nil {
			msg, pending = "password rejected", c.PendingUser
		}
	case api.AuthenticatorValidationChallenge:
		if c.ResponseErrors != nil {
			msg, pending = "mfa code rejected", c.PendingUser
		}
	}
	if msg == "" {
		return
	}
	s.log.Info().Str("flow", f.Slug).Str("client_ip", sess.clientIP).Str("outpost", sess.outpost).
		Int32("user_pk", sess.userPK).Str("pending_user", pending).Str("reason", reason).Msg(msg)
}

func knownUser(v *view, u *model.User) string {
	if u == nil {
		return ""
	}
	if _, ok := v.userByPK[u.PK]; !ok {
		return ""
	}
	return u.Username
}

func cookieMatches(r *http.Request, st *sessionStore, sess *session) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return false
	}
	sid, err := st.parseCookie(c.Value)
	return err == nil && sid == sess.id
}

// clientIP is the end user's address: X-authentik-remote-ip when a valid
// outpost sent it and it parses, else the peer.
func clientIP(r *http.Request, outpost *model.Outpost) string {
	if outpost != nil {
		if raw := strings.TrimSpace(r.Header.Get("X-authentik-remote-ip")); raw != "" {
			if ip, err := netip.ParseAddr(raw); err == nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// planFlow starts a flow, checking its authentication requirement.
func (s *Server) planFlow(v *view, sess *session, f *model.Flow, outpost *model.Outpost, query string) (*flowPlan, any) {
	var user *model.User
	if u, ok := v.userByPK[sess.userPK]; ok {
		user = u
	}
	switch f.Authentication {
	case "require_authenticated":
		if user == nil {
			return nil, accessDenied(f, "", msgNotApplicable)
		}
	case "require_unauthenticated":
		if user != nil {
			return nil, accessDenied(f, user.Username, msgNotApplicable)
		}
	case "require_superuser":
		if user == nil || !v.isSuperuser(user) {
			return nil, accessDenied(f, "", msgNotApplicable)
		}
	case "require_outpost":
		if outpost == nil {
			return nil, accessDenied(f, "", msgNotApplicable)
		}
	}
	plan := &flowPlan{flow: f, query: query}
	bindings := slices.Clone(f.Bindings)
	slices.SortStableFunc(bindings, func(a, b model.FlowStageBinding) int { return a.Order - b.Order })
	for _, b := range bindings {
		if st, ok := v.stageByPK[b.Stage]; ok {
			plan.stages = append(plan.stages, st)
		}
	}
	// authentik puts an already logged-in user into the plan context.
	plan.pendingUser = user
	return plan, nil
}

// advance runs non-interactive stages until one needs input or the flow
// ends, and returns what to send.
func (s *Server) advance(v *view, sess *session) any {
	plan := sess.plan
	for plan.idx < len(plan.stages) {
		st := plan.stages[plan.idx]
		switch st.Kind {
		case model.StageIdentification:
			return identificationChallenge(plan, st, nil)
		case model.StagePassword:
			if plan.passwordDone {
				plan.idx++
				continue
			}
			return passwordChallenge(plan, nil)
		case model.StageAuthenticatorValidate:
			if plan.pendingUser == nil {
				plan.idx++
				continue
			}
			devices := s.deviceChallenges(v, plan.pendingUser, st)
			if len(devices) == 0 {
				if st.NotConfiguredAction == "deny" {
					sess.plan = nil
					return accessDenied(plan.flow, plan.pendingName(), msgNoDevice)
				}
				plan.idx++
				continue
			}
			return validateChallenge(plan, devices, nil)
		case model.StageUserLogin:
			u := plan.pendingUser
			if u == nil {
				sess.plan = nil
				return accessDenied(plan.flow, plan.pendingName(), msgNotApplicable)
			}
			if !u.IsActive {
				sess.plan = nil
				return accessDenied(plan.flow, u.Username, msgInactive)
			}
			sess.userPK = u.PK
			plan.idx++
		case model.StageUserLogout:
			if sess.userPK != 0 {
				s.sessionEnded(sess.id)
			}
			sess.userPK = 0
			plan.idx++
		default:
			// A stage kind the stand-in does not run: skip it rather
			// than strand the flow.
			plan.idx++
		}
	}
	sess.plan = nil
	return redirect(nextURL(plan.query))
}

// nextURL is the flow's "next" query parameter when it is a local path.
func nextURL(query string) string {
	q, err := url.ParseQuery(query)
	if err == nil {
		if n := q.Get("next"); strings.HasPrefix(n, "/") && !strings.HasPrefix(n, "//") {
			return n
		}
	}
	return "/"
}

func identificationChallenge(plan *flowPlan, st *model.Stage, errs *map[string][]api.ErrorDetail) api.IdentificationChallenge {
	fields := st.UserFields
	if fields == nil {
		fields = []string{}
	}
	designation := api.FlowDesignationEnum(orDefault(plan.flow.Designation, "authentication"))
	return api.IdentificationChallenge{
		FlowInfo:         flowInfo(plan.flow),
		Component:        strPtr("ak-stage-identification"),
		ResponseErrors:   errs,
		UserFields:       fields,
		PasswordFields:   st.PasswordStage != "",
		FlowDesignation:  designation,
		PrimaryAction:    primaryAction(plan.flow),
		Sources:          []api.LoginSource{},
		ShowSourceLabels: false,
	}
}

func primaryAction(f *model.Flow) string {
	if f.Designation == "" || f.Designation == "authentication" {
		return "Log in"
	}
	return "Continue"
}

func passwordChallenge(plan *flowPlan, errs *map[string][]api.ErrorDetail) api.PasswordChallenge {
	return api.PasswordChallenge{
		FlowInfo:          flowInfo(plan.flow),
		Component:         strPtr("ak-stage-password"),
		ResponseErrors:    errs,
		PendingUser:       plan.pendingName(),
		PendingUserAvatar: defaultAvatar,
	}
}

func validateChallenge(plan *flowPlan, devices []api.DeviceChallenge, errs *map[string][]api.ErrorDetail) api.AuthenticatorValidationChallenge {
	return api.AuthenticatorValidationChallenge{
		FlowInfo:            flowInfo(plan.flow),
		Component:           strPtr("ak-stage-authenticator-validate"),
		ResponseErrors:      errs,
		PendingUser:         plan.pendingName(),
		PendingUserAvatar:   defaultAvatar,
		DeviceChallenges:    devices,
		ConfigurationStages: []api.SelectableStage{},
	}
}

func classAllowed(st *model.Stage, class string) bool {
	return len(st.DeviceClasses) == 0 || slices.Contains(st.DeviceClasses, class)
}

// deviceChallenges lists one challenge per code device class the user has
// a confirmed device of: authentik validates TOTP and static codes against
// all of the user's devices of a class, so it shows each class once.
func (s *Server) deviceChallenges(v *view, u *model.User, st *model.Stage) []api.DeviceChallenge {
	out := []api.DeviceChallenge{}
	add := func(class api.DeviceClassesEnum, pk int32) {
		out = append(out, api.DeviceChallenge{
			DeviceClass: class, DeviceUid: strconv.Itoa(int(pk)),
			Challenge: map[string]any{}, LastUsed: *api.NewNullableTime(nil),
		})
	}
	if classAllowed(st, "totp") {
		for _, d := range v.dir.TOTPDevices {
			if d.User == u.PK && d.Confirmed {
				add(api.DEVICECLASSESENUM_TOTP, d.PK)
				break
			}
		}
	}
	if classAllowed(st, "static") {
		for _, d := range v.dir.StaticDevices {
			if d.User == u.PK && d.Confirmed {
				add(api.DEVICECLASSESENUM_STATIC, d.PK)
				break
			}
		}
	}
	return out
}

func stringField(body map[string]any, name string) string {
	s, _ := body[name].(string)
	return s
}

// submit handles a POSTed challenge response for the current stage.
func (s *Server) submit(v *view, sess *session, body map[string]any) any {
	plan := sess.plan
	// Run non-interactive stages first so the response meets the stage
	// that asked for it.
	cur := s.advance(v, sess)
	if sess.plan == nil || plan.idx >= len(plan.stages) {
		return cur
	}
	st := plan.stages[plan.idx]
	switch st.Kind {
	case model.StageIdentification:
		return s.submitIdentification(v, sess, st, body)
	case model.StagePassword:
		return s.submitPassword(v, sess, body)
	case model.StageAuthenticatorValidate:
		return s.submitValidate(v, sess, st, body)
	}
	return cur
}

func (v *view) findUser(st *model.Stage, uid string) *model.User {
	fields := st.UserFields
	if len(fields) == 0 {
		fields = []string{"username"}
	}
	for _, u := range v.dir.Users {
		for _, f := range fields {
			switch f {
			case "username":
				// case_insensitive_matching defaults to true in authentik.
				if strings.EqualFold(u.Username, uid) {
					return u
				}
			case "email":
				if u.Email != "" && strings.EqualFold(u.Email, uid) {
					return u
				}
			case "upn":
				if upn, ok := u.Attributes["upn"].(string); ok && upn != "" && strings.EqualFold(upn, uid) {
					return u
				}
			}
		}
	}
	return nil
}

// passwordOK checks a password without revealing whether the user exists:
// unknown and inactive users fail like a wrong password.
func passwordOK(u *model.User, pw string) bool {
	if u == nil {
		return false
	}
	ok := u.CheckPassword(pw)
	return ok && u.IsActive
}

func (s *Server) submitIdentification(v *view, sess *session, st *model.Stage, body map[string]any) any {
	plan := sess.plan
	uid := strings.TrimSpace(stringField(body, "uid_field"))
	if uid == "" {
		return identificationChallenge(plan, st, errorsFor("non_field_errors", msgNoIdentifier, "invalid"))
	}
	u := v.findUser(st, uid)
	if st.PasswordStage != "" {
		if !passwordOK(u, stringField(body, "password")) {
			return identificationChallenge(plan, st, errorsFor("non_field_errors", msgFailedAuth, "invalid"))
		}
		plan.passwordDone = true
	}
	plan.pendingUser = u
	plan.pendingUID = uid
	plan.idx++
	return s.advance(v, sess)
}

func (s *Server) submitPassword(v *view, sess *session, body map[string]any) any {
	plan := sess.plan
	if !passwordOK(plan.pendingUser, stringField(body, "password")) {
		plan.passwordFailed++
		if plan.passwordFailed >= maxPasswordAttempts {
			sess.plan = nil
			return accessDenied(plan.flow, plan.pendingName(), msgTooManyAttempts)
		}
		return passwordChallenge(plan, errorsFor("password", msgInvalidPassword, "invalid"))
	}
	plan.passwordDone = true
	plan.idx++
	return s.advance(v, sess)
}

func (s *Server) submitValidate(v *view, sess *session, st *model.Stage, body map[string]any) any {
	plan := sess.plan
	u := plan.pendingUser
	devices := s.deviceChallenges(v, u, st)
	fail := func(field, msg, code string) any {
		return validateChallenge(plan, devices, errorsFor(field, msg, code))
	}
	sel, _ := body["selected_challenge"].(map[string]any)
	class, _ := sel["device_class"].(string)
	code := strings.TrimSpace(stringField(body, "code"))
	if _, isDuo := body["duo"]; isDuo && code == "" {
		return fail("duo", msgUnknownDevice, "invalid")
	}
	if code == "" {
		return fail("code", "This field is required.", "required")
	}
	if class == "" {
		// authentik answers to the device the response selected; without
		// one, try each allowed code device class.
		class = "any"
	}
	if class != "any" && !classAllowed(st, class) {
		return fail("selected_challenge", msgUnknownDevice, "invalid")
	}
	var ok bool
	var msg string
	switch class {
	case "totp":
		ok, msg = s.verifyTOTP(v, u, code), msgInvalidTOTP
	case "static":
		ok, msg = s.useStatic(v, u, code), msgInvalidToken
	case "any":
		ok = (classAllowed(st, "totp") && s.verifyTOTP(v, u, code)) ||
			(classAllowed(st, "static") && s.useStatic(v, u, code))
		msg = msgInvalidToken
	default:
		return fail("selected_challenge", msgUnknownDevice, "invalid")
	}
	if !ok {
		return fail("code", msg, "invalid")
	}
	plan.idx++
	return s.advance(v, sess)
}

// verifyTOTP checks code against the user's confirmed TOTP devices and,
// like django-otp, refuses a time step at or before the last one used.
func (s *Server) verifyTOTP(v *view, u *model.User, code string) bool {
	now := s.cfg.Now()
	for _, d := range v.dir.TOTPDevices {
		if d.User != u.PK || !d.Confirmed {
			continue
		}
		key, err := hex.DecodeString(d.Key)
		if err != nil || len(key) == 0 {
			continue
		}
		p := totp.Params{Digits: d.Digits, Step: time.Duration(d.Step) * time.Second}
		if p.Digits == 0 {
			p.Digits = 6
		}
		if p.Step <= 0 {
			p.Step = 30 * time.Second
		}
		stepSecs := int64(p.Step / time.Second)
		for drift := -1; drift <= 1; drift++ {
			at := now.Add(time.Duration(drift) * p.Step)
			if !totp.Verify(key, code, at, p) {
				continue
			}
			counter := at.Unix() / stepSecs
			if s.markTOTPStep(d.PK, counter) {
				return true
			}
		}
	}
	return false
}

// markTOTPStep records counter as used for device pk; false on replay.
func (s *Server) markTOTPStep(pk int32, counter int64) bool {
	s.usedMu.Lock()
	defer s.usedMu.Unlock()
	key := "totp/" + strconv.Itoa(int(pk))
	if last, ok := s.lastTOTP[key]; ok && counter <= last {
		return false
	}
	s.lastTOTP[key] = counter
	return true
}

// useStatic consumes a static token of the user's confirmed devices.
func (s *Server) useStatic(v *view, u *model.User, code string) bool {
	s.usedMu.Lock()
	defer s.usedMu.Unlock()
	for _, d := range v.dir.StaticDevices {
		if d.User != u.PK || !d.Confirmed {
			continue
		}
		for _, t := range d.Tokens {
			key := strconv.Itoa(int(d.PK)) + "/" + t
			if t == code && !s.usedStatic[key] {
				s.usedStatic[key] = true
				return true
			}
		}
	}
	return false
}
