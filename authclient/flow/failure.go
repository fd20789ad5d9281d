package flow

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
)

// Reason says why an authentication or a post-authentication check failed.
// The values are the reason labels authentik's outposts put on their
// rejection metrics, so outposts can use them as they are.
type Reason string

const (
	// ReasonInvalidCredentials: a stage reported errors (wrong username,
	// password or code) or the flow ended in the access-denied stage.
	ReasonInvalidCredentials Reason = "invalid_credentials"
	// ReasonAccessDenied: the user authenticated but the application's
	// policies do not let them in.
	ReasonAccessDenied Reason = "access_denied"
	// ReasonFlowError: the flow could not be driven to an end: an unsupported
	// stage, too many steps, no usable authenticator, or a response the
	// client could not understand.
	ReasonFlowError Reason = "flow_error"
	// ReasonAccessCheckFail: the application access check itself failed.
	ReasonAccessCheckFail Reason = "access_check_fail"
	// ReasonUserInfoFail: fetching the authenticated user failed.
	ReasonUserInfoFail Reason = "user_info_fail"
	// ReasonUnavailable: the core could not be reached or answered with a
	// server error while running the flow. Not one of authentik's labels:
	// LDAP and RADIUS use it to fall back to cached users.
	ReasonUnavailable Reason = "core_unavailable"
)

// ErrUnavailable is in the chain of every error caused by the core being
// unreachable or answering 5xx, whatever the Failure's Reason.
var ErrUnavailable = errors.New("authentik core unavailable")

// Failure is the typed error of this package. Message is safe to log: it
// never holds the password or the one-time code.
type Failure struct {
	Reason  Reason
	Message string
	Err     error
}

func (f *Failure) Error() string {
	if f.Err == nil {
		return fmt.Sprintf("%s: %s", f.Reason, f.Message)
	}
	return fmt.Sprintf("%s: %s: %v", f.Reason, f.Message, f.Err)
}

func (f *Failure) Unwrap() error { return f.Err }

// ReasonOf returns the Reason of the Failure in err's chain, or "" when
// there is none.
func ReasonOf(err error) Reason {
	var f *Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	return ""
}

// IsUnavailable reports whether err was caused by the core being unreachable
// or failing (transport error, timeout, 5xx), as opposed to the core
// answering "no". A cancelled or expired ctx counts as unavailable too: the
// core did not answer in time.
func IsUnavailable(err error) bool {
	return errors.Is(err, ErrUnavailable)
}

func fail(reason Reason, err error, format string, args ...any) *Failure {
	return &Failure{Reason: reason, Message: fmt.Sprintf(format, args...), Err: err}
}

// classify wraps an error returned by the generated API client. Transport
// errors and 5xx answers get ErrUnavailable in their chain; when the caller
// wants them reported as ReasonUnavailable (the flow itself) unavailable is
// that reason, otherwise fallback is used for them too.
func classify(err error, status int, fallback, unavailable Reason, what string) *Failure {
	if isTransport(err) || status >= 500 {
		return fail(unavailable, fmt.Errorf("%w: %w", ErrUnavailable, err), "%s", what)
	}
	return fail(fallback, err, "%s", what)
}

func isTransport(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}
