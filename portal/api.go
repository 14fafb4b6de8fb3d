package portal

// The verification API: other self-service products (MIM's custom phone
// provider, PWM, Keycloak) ask sspr to place a verification call and read
// how it ended. The routes, their JSON and their statuses are described
// in docs/openapi.yaml; a test keeps the two in step.
//
// A verification is kept as a store session, so that any node can answer
// for it, with the same expiry (Config.SessionTTL) and sweep as a reset.
// It is a session of kind reset, told apart by its binding, "api:" and
// the client's name: a browser binding is a hex SHA-256, so no browser
// can ever open it as a page, and a new kind would have needed the
// SQLite sessions table rebuilt to change its CHECK constraint. Its data
// is an apiVerification, written only by the code in this file.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/sspr-project/sspr/ivr"
	"github.com/sspr-project/sspr/portal/phone"
	"github.com/sspr-project/sspr/portal/store"
)

// APIClient is a product allowed to use the verification API with a
// bearer token. It never prints or logs its token.
type APIClient struct {
	// Name names the client in audit records, logs and the call caps
	// (as the client address "api:<name>"): 1 to 32 characters from
	// a-z, 0-9, '-' and '_'.
	Name string
	// Token is the bearer token the client sends, at least
	// MinAPITokenLen characters.
	Token string
}

// MinAPITokenLen is the shortest API token accepted: 32 characters (as
// from openssl rand -hex 16 or longer).
const MinAPITokenLen = 32

// maxAPIBody caps the JSON body of an API request, in bytes.
const maxAPIBody = 4 << 10

// Validate reports what is wrong with c, naming the field.
func (c APIClient) Validate() error {
	if c.Name == "" || len(c.Name) > 32 || strings.TrimLeft(c.Name, "abcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return fmt.Errorf("%w: name %q: want 1 to 32 of a-z, 0-9, - and _", ErrConfig, c.Name)
	}
	if len(c.Token) < MinAPITokenLen {
		return fmt.Errorf("%w: token of %s: shorter than %d characters", ErrConfig, c.Name, MinAPITokenLen)
	}
	return nil
}

// String names the client without its token.
func (c APIClient) String() string { return "portal.APIClient{Name:" + c.Name + " Token:redacted}" }

// GoString is String, so that %#v does not print the token either.
func (c APIClient) GoString() string { return c.String() }

// LogValue logs the client's name only.
func (c APIClient) LogValue() slog.Value { return slog.StringValue(c.Name) }

// apiRoute is one route of the API: docs/openapi.yaml lists the same.
type apiRoute struct {
	pattern string // for http.ServeMux: "METHOD /path"
	name    string // the route label of the request metrics
	handler func(*Server) http.HandlerFunc
}

// apiRoutes are the API's routes.
var apiRoutes = []apiRoute{
	{"POST /api/v1/verifications", "api_verifications", func(s *Server) http.HandlerFunc { return s.apiCreate }},
	{"GET /api/v1/verifications/{id}", "api_verification", func(s *Server) http.HandlerFunc { return s.apiGet }},
	{"POST /api/v1/verifications/{id}/code", "api_verification_code", func(s *Server) http.HandlerFunc { return s.apiCode }},
}

// apiRoutes adds the API's routes to mux, each through h (which wraps it
// in the web plumbing); other paths under /api/ get a JSON 404.
func (s *Server) apiRoutes(h func(pattern, route string, fn http.HandlerFunc)) {
	for _, r := range apiRoutes {
		h(r.pattern, r.name, r.handler(s))
	}
	h("/api/", "api_other", func(w http.ResponseWriter, _ *http.Request) {
		apiError(w, http.StatusNotFound, "no such resource")
	})
}

// apiVerification is the session data of an API verification. It holds
// no secret in clear: the code is hashed, and the number is not kept.
type apiVerification struct {
	// Mode is the verification mode; Match the digits to key in match
	// mode.
	Mode  string `json:"api_mode"`
	Match string `json:"match,omitempty"`
	// Running: the call is in progress, owned by Node since Started.
	Running bool      `json:"running,omitempty"`
	Node    string    `json:"node,omitempty"`
	Started time.Time `json:"started,omitzero"`
	// Step is the call's last step (an ivr.EventKind); Result its ivr
	// result once it ended.
	Step   string `json:"step,omitempty"`
	Result string `json:"result,omitempty"`
	// CodeHash is what is kept of the spoken code (see codeHash) until
	// it is typed right; CodeTries counts the wrong ones.
	CodeHash  string `json:"code,omitempty"`
	CodeTries int    `json:"code_tries,omitempty"`
	// CallID is the call's ID, for the audit log.
	CallID string `json:"call_id,omitempty"`
	// Verdict is apiConfirmed or apiFailed once decided (the session is
	// completed or failed just after), and Ended when.
	Verdict string    `json:"verdict,omitempty"`
	Ended   time.Time `json:"ended,omitzero"`
}

// The statuses of a verification, as the API shows them.
const (
	apiPending      = "pending"       // accepted; the call is being placed
	apiRinging      = "ringing"       // the phone rings
	apiAnswered     = "answered"      // answered; waiting for the key
	apiAwaitingCode = "awaiting-code" // code mode: the code was spoken; POST it to /code
	apiConfirmed    = "confirmed"     // verified
	apiFailed       = "failed"        // ended without verifying; result says why
	apiExpired      = "expired"       // ended by its expiry before a verdict
)

// apiRequest is the body of POST /api/v1/verifications.
type apiRequest struct {
	User     *string `json:"user"`
	Number   *string `json:"number"`
	Mode     string  `json:"mode"`
	Language string  `json:"language"`
}

// apiCodeRequest is the body of POST /api/v1/verifications/{id}/code.
type apiCodeRequest struct {
	Code *string `json:"code"`
}

// apiStatus is a verification as the API shows it.
type apiStatus struct {
	ID      string    `json:"id"`
	Status  string    `json:"status"`
	Mode    string    `json:"mode"`
	Match   string    `json:"match,omitempty"`
	Result  string    `json:"result,omitempty"`
	Created time.Time `json:"created"`
	Ended   time.Time `json:"ended,omitzero"`
	Expires time.Time `json:"expires"`
}

// apiBinding is the session binding of the verifications of client.
func apiBinding(client string) string { return "api:" + client }

// apiClientAddr is the client address of client in the call caps and the
// audit log.
func apiClientAddr(client string) string { return "api:" + client }

// apiJSON writes v as JSON with status.
func apiJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// apiError writes {"error": msg} with status.
func apiError(w http.ResponseWriter, status int, msg string) {
	apiJSON(w, status, map[string]string{"error": msg})
}

// apiFail logs err and answers 500.
func (s *Server) apiFail(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error("portal: API request failed", "route", r.Pattern, "err", err)
	apiError(w, http.StatusInternalServerError, "internal error")
}

// apiClient returns the name of the client whose bearer token r carries;
// if there is none, it has answered 401. Every token is compared, in
// constant time, whichever matches.
func (s *Server) apiClient(w http.ResponseWriter, r *http.Request) (string, bool) {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sspr"`)
		apiError(w, http.StatusUnauthorized, "a bearer token is required")
		return "", false
	}
	sum := sha256.Sum256([]byte(tok))
	name := ""
	for _, c := range s.cfg.APIClients {
		want := sha256.Sum256([]byte(c.Token))
		if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			name = c.Name
		}
	}
	if name == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="sspr", error="invalid_token"`)
		apiError(w, http.StatusUnauthorized, "the bearer token is not valid")
		return "", false
	}
	return name, true
}

// apiDecode reads r's JSON body into v: one object of known fields, at
// most maxAPIBody bytes; if it cannot, it has answered (415, 413, 400).
func apiDecode(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		apiError(w, http.StatusUnsupportedMediaType, "the body must be application/json")
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxAPIBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apiError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", maxAPIBody))
			return false
		}
		apiError(w, http.StatusBadRequest, "the body could not be read")
		return false
	}
	if err := decodeStrict(body, v); err != nil {
		apiError(w, http.StatusBadRequest, err.Error())
		return false
	}
	return true
}

// errAPIBody is wrapped by the errors of decodeStrict.
var errAPIBody = errors.New("invalid JSON body")

// decodeStrict decodes exactly one JSON object of known fields from body
// into v. Its errors name the field at fault, and never quote a value.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		var se *json.SyntaxError
		switch {
		case errors.As(err, &te) && te.Field != "":
			return fmt.Errorf("%w: %s: want a %s", errAPIBody, te.Field, te.Type)
		case errors.As(err, &te):
			return fmt.Errorf("%w: want an object", errAPIBody)
		case errors.As(err, &se):
			return fmt.Errorf("%w: syntax error at byte %d", errAPIBody, se.Offset)
		case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return fmt.Errorf("%w: empty or truncated", errAPIBody)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			f := strings.TrimPrefix(err.Error(), "json: unknown field ")
			if len(f) > 66 {
				f = f[:64] + `…"`
			}
			return fmt.Errorf("%w: unknown field %s", errAPIBody, strings.ToValidUTF8(f, "?"))
		}
		return fmt.Errorf("%w: not a JSON object", errAPIBody)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: more than one JSON value", errAPIBody)
	}
	return nil
}

// apiTarget is a validated verification request.
type apiTarget struct {
	user   string // canonical username; "" for a number
	number string // E.164; "" for a user (looked up later)
	mode   ivr.Mode
	lang   string
}

// validate checks a decoded request against the phone policy and the
// languages; the error (for a 422) names the field.
func (s *Server) validate(req apiRequest) (apiTarget, error) {
	var t apiTarget
	switch {
	case req.User != nil && req.Number != nil:
		return t, errors.New("user, number: give one of them, not both")
	case req.User == nil && req.Number == nil:
		return t, errors.New("user, number: one of them is required")
	case req.User != nil:
		u, ok := canonicalUser(*req.User)
		if !ok {
			return t, fmt.Errorf("user: want 1 to %d characters, no control characters", maxUsername)
		}
		t.user = u
	default:
		n, err := s.cfg.Phone.Parse(*req.Number)
		if err != nil {
			var ce *phone.CountryError
			var le *phone.LineTypeError
			switch {
			case errors.As(err, &ce):
				return t, fmt.Errorf("number: country %s is not allowed", ce.Region)
			case errors.As(err, &le):
				return t, fmt.Errorf("number: line type %s is not allowed", le.Type)
			case errors.Is(err, phone.ErrEmpty):
				return t, errors.New("number: empty")
			case errors.Is(err, phone.ErrTooLong):
				return t, fmt.Errorf("number: longer than %d characters", phone.MaxInputLen)
			}
			return t, errors.New("number: not a valid phone number")
		}
		t.number = n.E164
	}
	m, err := ivr.ParseMode(req.Mode)
	if err != nil {
		return t, errors.New("mode: want match, confirm, code, or pin (with user only)")
	}
	if m == ivr.ModePIN && t.user == "" {
		return t, errors.New("mode: pin needs a user (the PIN is the user's)")
	}
	t.mode = m
	if req.Language != "" {
		ok := false
		for _, l := range s.cfg.Languages {
			ok = ok || l == req.Language
		}
		if !ok {
			return t, fmt.Errorf("language: want one of %s", strings.Join(s.cfg.Languages, ", "))
		}
		t.lang = req.Language
	}
	return t, nil
}

// capRate is the rate of the cap named name (for Retry-After).
func (s *Server) capRate(name string) Rate {
	l := s.cfg.Limits
	switch name {
	case "call_user":
		return l.CallsPerUser
	case "call_number":
		return l.CallsPerNumber
	case "call_client":
		return l.CallsPerClient
	}
	return Rate{N: l.CallsPerMinute, Per: time.Minute}
}

// apiCreate is POST /api/v1/verifications: it places the call (or, for a
// user without a registration, the decoy that ends unanswered) and
// answers 202 with the verification's ID.
func (s *Server) apiCreate(w http.ResponseWriter, r *http.Request) {
	client, ok := s.apiClient(w, r)
	if !ok {
		return
	}
	if s.isDraining() {
		w.Header().Set("Retry-After", "30")
		apiError(w, http.StatusServiceUnavailable, "the service is shutting down")
		return
	}
	var req apiRequest
	if !apiDecode(w, r, &req) {
		return
	}
	t, err := s.validate(req)
	if err != nil {
		apiError(w, http.StatusUnprocessableEntity, err.Error())
		return
	}
	ctx := r.Context()
	addr := apiClientAddr(client)
	number, lang, pinHash := t.number, t.lang, ""
	capUser := t.user
	if t.user != "" {
		// Read for every username, so that the work is the same whether
		// or not it is registered.
		reg, err := s.st.Registration(ctx, t.user)
		switch {
		case err == nil:
			number, pinHash = reg.Phone, reg.PINHash
			if lang == "" {
				lang = reg.Language
			}
		case !errors.Is(err, store.ErrNotFound):
			s.apiFail(w, r, err)
			return
		}
		if t.mode == ivr.ModePIN && pinHash == "" {
			number = "" // no PIN to check: the decoy, as for no registration
		}
	}
	numKey := s.numberKey(number)
	if number == "" {
		numKey = s.numberKey("user:" + t.user)
	}
	if capUser == "" {
		capUser = "#" + numKey // a number has no user: its own bucket
	}
	_, capName, err := s.capCall(ctx, capUser, numKey, addr)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	if capName != "" {
		s.m.refused(capName)
		s.m.api.WithLabelValues("refused").Inc()
		s.audit(ctx, "api.verification", t.user, addr, "refused-"+capName, "", "")
		w.Header().Set("Retry-After", retryAfter(s.capRate(capName).Per))
		apiError(w, http.StatusTooManyRequests, "a call limit is reached: try again later")
		return
	}
	now := s.now()
	ses, err := s.st.NewSession(ctx, store.NewSession{Kind: store.KindReset, Username: t.user, Binding: apiBinding(client), TTL: s.cfg.SessionTTL}, now)
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	v := apiVerification{Mode: string(t.mode), Running: true, Node: s.node, Started: now, Step: string(ivr.Dialing)}
	call := ivr.Request{Number: number, Mode: t.mode, Language: lang}
	switch t.mode {
	case ivr.ModeMatch:
		v.Match = ivr.NewMatch()
		call.Match = v.Match
	case ivr.ModeCode:
		call.Code = ivr.NewCode(s.cfg.CodeLength)
		v.CodeHash = codeHash(ses.ID, call.Code)
	case ivr.ModePIN:
		call.CheckPIN = func(pin string) bool { return s.hash.check(pin, pinHash) }
	}
	data, err := json.Marshal(v)
	if err == nil {
		ses.Version, err = s.st.SaveData(ctx, ses.ID, ses.Version, data, now)
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.m.api.WithLabelValues("accepted").Inc()
	s.audit(ctx, "api.verification", t.user, addr, "accepted", "", ses.ID)
	s.log.Info("portal: API verification accepted", "reset_id", ses.ID, "client", client, "user", t.user, "mode", string(t.mode))
	s.apiCall(ses.ID, t.user, addr, number, call)
	ses.Data = data
	w.Header().Set("Location", "/api/v1/verifications/"+ses.ID)
	apiJSON(w, http.StatusAccepted, s.apiView(ses, v))
}

// apiCall runs the verification's call (or decoy, for no number).
func (s *Server) apiCall(id, user, addr, number string, req ivr.Request) {
	s.runCall(id, user, addr, number, req, callHooks{
		progress: func(k ivr.EventKind) { s.apiProgress(id, k) },
		ended:    func(r ivr.Result, _ time.Time) { s.apiEnded(id, user, r) },
		over: func(ctx context.Context, callID string) {
			_, _, _ = s.apiUpdate(ctx, id, func(_ *store.Session, d *apiVerification) error {
				d.CallID = callID
				return nil
			})
		},
	})
}

// apiProgress records a step of the verification's call.
func (s *Server) apiProgress(id string, k ivr.EventKind) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 5*time.Second)
	defer cancel()
	_, _, err := s.apiUpdate(ctx, id, func(_ *store.Session, d *apiVerification) error {
		if !d.Running || d.Step == string(k) {
			return errStop
		}
		d.Step = string(k)
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrExpired) {
		s.log.Warn("portal: API call progress not recorded", "reset_id", id, "err", err)
	}
}

// apiEnded records how the verification's call ended: confirmed
// completes it, a delivered code waits for the code, anything else fails
// it.
func (s *Server) apiEnded(id, user string, res ivr.Result) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.ctx), 30*time.Second)
	defer cancel()
	res = validResult(res)
	s.m.calls.WithLabelValues(string(res)).Inc()
	if res == ivr.FraudReported {
		s.m.fraud.Inc()
		if user != "" {
			// As in the portal: the person says they did not ask for
			// this, so the reset process locks for them at once.
			if lo, err := s.st.Lock(ctx, user, s.cfg.Lockout, s.now()); err != nil {
				s.log.Error("portal: locking the reset process after a fraud report failed", "reset_id", id, "user", user, "err", err)
			} else {
				s.m.lockouts.WithLabelValues("fraud").Inc()
				outcome := "temporary-fraud"
				if lo.Permanent {
					outcome = "permanent-fraud"
				}
				s.audit(ctx, "lockout", user, "api", outcome, "", id)
			}
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	_, _, err := s.apiUpdate(ctx, id, func(_ *store.Session, d *apiVerification) error {
		d.Running, d.Step, d.Result = false, string(ivr.Finished), string(res)
		switch res {
		case ivr.CodeDelivered:
		case ivr.Confirmed:
			d.Verdict, d.Ended = apiConfirmed, now
		default:
			d.Verdict, d.Ended = apiFailed, now
		}
		return nil
	})
	if err == nil {
		switch res {
		case ivr.CodeDelivered:
		case ivr.Confirmed:
			err = s.st.Complete(ctx, id, now)
			s.m.api.WithLabelValues("confirmed").Inc()
		default:
			err = s.st.Fail(ctx, id, now)
			s.m.api.WithLabelValues("failed").Inc()
		}
	}
	if err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrExpired) && !errors.Is(err, store.ErrNotFound) {
		s.log.Error("portal: recording the API call's end failed", "reset_id", id, "err", err)
		return
	}
	s.log.Info("portal: API verification call ended", "reset_id", id, "user", user, "result", string(res))
}

// apiLoad reads the verification id of client; ErrNotFound also when it
// is another client's, or not a verification at all.
func (s *Server) apiLoad(ctx context.Context, client, id string) (store.Session, apiVerification, error) {
	var d apiVerification
	if id == "" || len(id) > 64 {
		return store.Session{}, d, store.ErrNotFound
	}
	ses, err := s.st.Session(ctx, id, s.now())
	if err != nil {
		return ses, d, err
	}
	if client != "" && subtle.ConstantTimeCompare([]byte(ses.Binding), []byte(apiBinding(client))) != 1 {
		return store.Session{}, d, store.ErrNotFound
	}
	if !strings.HasPrefix(ses.Binding, "api:") {
		return store.Session{}, d, store.ErrNotFound
	}
	if len(ses.Data) > 0 {
		if err := json.Unmarshal(ses.Data, &d); err != nil {
			return ses, d, fmt.Errorf("portal: verification %s: bad data: %w", id, err)
		}
	}
	return ses, d, nil
}

// apiUpdate is update for a verification: fn changes its data, saved if
// nobody changed it in between (else read again and retried); errStop
// saves nothing.
func (s *Server) apiUpdate(ctx context.Context, id string, fn func(*store.Session, *apiVerification) error) (store.Session, apiVerification, error) {
	var (
		ses store.Session
		d   apiVerification
	)
	saved, v, data, err := s.changeData(ctx, id, func() (int64, []byte, error) {
		var err error
		if ses, d, err = s.apiLoad(ctx, "", id); err != nil {
			return 0, nil, err
		}
		if err := fn(&ses, &d); err != nil {
			return 0, nil, err
		}
		data, err := json.Marshal(d)
		return ses.Version, data, err
	})
	if saved {
		ses.Version, ses.Data = v, data
	}
	return ses, d, err
}

// apiView is the verification as the API shows it.
func (s *Server) apiView(ses store.Session, d apiVerification) apiStatus {
	out := apiStatus{ID: ses.ID, Mode: d.Mode, Match: d.Match, Result: d.Result, Created: ses.Created, Ended: d.Ended, Expires: ses.Expires}
	// The call's node died (or the call outlived any call): it failed.
	stale := s.stale(&callState{Running: d.Running, Node: d.Node, Started: d.Started})
	switch {
	case ses.State == store.StateCompleted:
		out.Status = apiConfirmed
	case ses.State == store.StateFailed:
		out.Status = apiFailed
	case stale:
		out.Status, out.Result = apiFailed, string(ivr.Failed)
	case ses.State == store.StateExpired:
		out.Status = apiExpired
	case d.Running && d.Step == string(ivr.Ringing):
		out.Status = apiRinging
	case d.Running && (d.Step == string(ivr.Answered) || d.Step == string(ivr.KeyReceived)):
		out.Status = apiAnswered
	case d.Verdict != "":
		out.Status = d.Verdict // decided, the session's state follows
	case d.Running || d.Result == "":
		out.Status = apiPending
	case d.Result == string(ivr.CodeDelivered):
		out.Status = apiAwaitingCode
	default:
		out.Status = apiFailed
	}
	return out
}

// apiGet is GET /api/v1/verifications/{id}.
func (s *Server) apiGet(w http.ResponseWriter, r *http.Request) {
	client, ok := s.apiClient(w, r)
	if !ok {
		return
	}
	ses, d, err := s.apiLoad(r.Context(), client, r.PathValue("id"))
	switch {
	case errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, "no such verification")
	case err != nil:
		s.apiFail(w, r, err)
	default:
		apiJSON(w, http.StatusOK, s.apiView(ses, d))
	}
}

// apiCode is POST /api/v1/verifications/{id}/code: the code the person
// typed into the calling product, in code mode. Right: 200, confirmed;
// wrong: 422, and after Config.CodeTries wrong codes the verification
// fails.
func (s *Server) apiCode(w http.ResponseWriter, r *http.Request) {
	client, ok := s.apiClient(w, r)
	if !ok {
		return
	}
	var req apiCodeRequest
	if !apiDecode(w, r, &req) {
		return
	}
	ctx := r.Context()
	id := r.PathValue("id")
	ses, d, err := s.apiLoad(ctx, client, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		apiError(w, http.StatusNotFound, "no such verification")
		return
	case err != nil:
		s.apiFail(w, r, err)
		return
	}
	if ses.State != store.StateActive || d.Result != string(ivr.CodeDelivered) || d.CodeHash == "" {
		apiJSON(w, http.StatusConflict, map[string]string{"error": "the verification is not waiting for a code", "status": s.apiView(ses, d).Status})
		return
	}
	if req.Code == nil {
		apiError(w, http.StatusUnprocessableEntity, "code: required")
		return
	}
	typed := trimDigits(*req.Code)
	if typed == "" {
		apiError(w, http.StatusUnprocessableEntity, "code: want digits")
		return
	}
	addr := apiClientAddr(client)
	want := d.CodeHash
	right := subtle.ConstantTimeCompare([]byte(codeHash(id, typed)), []byte(want)) == 1
	now := s.now().UTC().Truncate(time.Microsecond)
	if right {
		ses, d, err = s.apiUpdate(ctx, id, func(_ *store.Session, d *apiVerification) error {
			if d.CodeHash != want {
				return store.ErrClosed // used meanwhile
			}
			d.CodeHash, d.Verdict, d.Ended = "", apiConfirmed, now
			return nil
		})
		if err == nil {
			err = s.st.Complete(ctx, id, now)
		}
		if errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrExpired) {
			apiJSON(w, http.StatusConflict, map[string]string{"error": "the verification is not waiting for a code"})
			return
		}
		if err != nil {
			s.apiFail(w, r, err)
			return
		}
		s.m.api.WithLabelValues("confirmed").Inc()
		s.audit(ctx, "api.verification.code", ses.Username, addr, "right", d.CallID, id)
		ses.State = store.StateCompleted
		apiJSON(w, http.StatusOK, s.apiView(ses, d))
		return
	}
	tries := 0
	ses, d, err = s.apiUpdate(ctx, id, func(_ *store.Session, d *apiVerification) error {
		if d.CodeHash != want {
			return store.ErrClosed // decided meanwhile
		}
		d.CodeTries++
		tries = d.CodeTries
		if tries >= s.cfg.CodeTries {
			d.CodeHash, d.Verdict, d.Ended = "", apiFailed, now
		}
		return nil
	})
	if errors.Is(err, store.ErrClosed) || errors.Is(err, store.ErrExpired) {
		apiJSON(w, http.StatusConflict, map[string]string{"error": "the verification is not waiting for a code"})
		return
	}
	if err != nil {
		s.apiFail(w, r, err)
		return
	}
	s.audit(ctx, "api.verification.code", ses.Username, addr, "wrong", d.CallID, id)
	status := apiAwaitingCode
	if tries >= s.cfg.CodeTries {
		status = apiFailed
		if err := s.st.Fail(ctx, id, now); err != nil && !errors.Is(err, store.ErrClosed) && !errors.Is(err, store.ErrExpired) {
			s.apiFail(w, r, err)
			return
		}
		s.m.api.WithLabelValues("failed").Inc()
	}
	apiJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": "code: not right", "status": status, "tries_left": max(0, s.cfg.CodeTries-tries)})
}
