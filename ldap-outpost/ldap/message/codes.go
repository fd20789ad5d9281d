package message

// ResultCode is an LDAP result code (RFC 4511 §4.1.9).
type ResultCode int

// The result codes this server sends.
const (
	Success                  ResultCode = 0
	OperationsError          ResultCode = 1
	ProtocolError            ResultCode = 2
	TimeLimitExceeded        ResultCode = 3
	SizeLimitExceeded        ResultCode = 4
	CompareFalse             ResultCode = 5
	CompareTrue              ResultCode = 6
	AuthMethodNotSupported   ResultCode = 7
	UnavailableCriticalExt   ResultCode = 12
	ConfidentialityRequired  ResultCode = 13
	NoSuchAttribute          ResultCode = 16
	NoSuchObject             ResultCode = 32
	InvalidDNSyntax          ResultCode = 34
	InvalidCredentials       ResultCode = 49
	InsufficientAccessRights ResultCode = 50
	Busy                     ResultCode = 51
	Unavailable              ResultCode = 52
	UnwillingToPerform       ResultCode = 53
	Other                    ResultCode = 80
)

// Op is the application tag of a protocol operation.
type Op int

// Protocol operations (RFC 4511 §4.2–4.14).
const (
	OpBindRequest           Op = 0
	OpBindResponse          Op = 1
	OpUnbindRequest         Op = 2
	OpSearchRequest         Op = 3
	OpSearchResultEntry     Op = 4
	OpSearchResultDone      Op = 5
	OpModifyRequest         Op = 6
	OpModifyResponse        Op = 7
	OpAddRequest            Op = 8
	OpAddResponse           Op = 9
	OpDelRequest            Op = 10
	OpDelResponse           Op = 11
	OpModifyDNRequest       Op = 12
	OpModifyDNResponse      Op = 13
	OpCompareRequest        Op = 14
	OpCompareResponse       Op = 15
	OpAbandonRequest        Op = 16
	OpSearchResultReference Op = 19
	OpExtendedRequest       Op = 23
	OpExtendedResponse      Op = 24
)

// ResponseOp is the response operation for a request operation, and false
// for requests that get no response (unbind, abandon) or unknown ones.
func ResponseOp(req Op) (Op, bool) {
	switch req {
	case OpBindRequest, OpModifyRequest, OpAddRequest, OpDelRequest, OpModifyDNRequest, OpCompareRequest:
		return req + 1, true
	case OpSearchRequest:
		return OpSearchResultDone, true
	case OpExtendedRequest:
		return OpExtendedResponse, true
	}
	return 0, false
}

// Name is the operation's name for logs and metrics.
func (o Op) Name() string {
	switch o {
	case OpBindRequest:
		return "bind"
	case OpUnbindRequest:
		return "unbind"
	case OpSearchRequest:
		return "search"
	case OpModifyRequest:
		return "modify"
	case OpAddRequest:
		return "add"
	case OpDelRequest:
		return "delete"
	case OpModifyDNRequest:
		return "modifydn"
	case OpCompareRequest:
		return "compare"
	case OpAbandonRequest:
		return "abandon"
	case OpExtendedRequest:
		return "extended"
	}
	return "unknown"
}

// Well-known OIDs.
const (
	OIDStartTLS            = "1.3.6.1.4.1.1466.20037"
	OIDWhoAmI              = "1.3.6.1.4.1.4203.1.11.3"
	OIDPasswordModify      = "1.3.6.1.4.1.4203.1.11.1"
	OIDNoticeOfDisconnect  = "1.3.6.1.4.1.1466.20036"
	OIDCancel              = "1.3.6.1.1.8"
	ControlPagedResults    = "1.2.840.113556.1.4.319"
	ControlManageDsaIT     = "2.16.840.1.113730.3.4.2"
	MatchingRuleInChain    = "1.2.840.113556.1.4.1941"
	FeatureAllOpAttributes = "1.3.6.1.4.1.4203.1.5.1"
)
