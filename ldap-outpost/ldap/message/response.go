package message

// Attribute is one attribute of an entry, in the order it is sent.
type Attribute struct {
	Name   string
	Values []string
}

// ResponseControl is a control attached to a response.
type ResponseControl struct {
	OID   string
	Value []byte
}

// Result is an LDAPResult (RFC 4511 §4.1.9) plus the response's controls.
type Result struct {
	Code       ResultCode
	MatchedDN  string
	Diagnostic string
	Controls   []ResponseControl
	// Extended responses only.
	ResponseName  string
	ResponseValue []byte
	HasValue      bool
	// Bind responses: serverSaslCreds are never sent.
}

// AppendResult appends a complete LDAPMessage with the result op.
func AppendResult(b []byte, id int64, op Op, r Result) []byte {
	w := builder{buf: b}
	w.begin(tagSequence)
	w.buf = appendInt(w.buf, tagInteger, id)
	w.begin(appConstructed | byte(op))
	w.buf = appendInt(w.buf, tagEnumerated, int64(r.Code))
	w.buf = appendString(w.buf, tagOctetString, r.MatchedDN)
	w.buf = appendString(w.buf, tagOctetString, r.Diagnostic)
	if op == OpExtendedResponse {
		if r.ResponseName != "" {
			w.buf = appendString(w.buf, ctxPrimitive|10, r.ResponseName)
		}
		if r.HasValue {
			w.buf = appendTLV(w.buf, ctxPrimitive|11, r.ResponseValue)
		}
	}
	w.end()
	appendControls(&w, r.Controls)
	w.end()
	return w.buf
}

func appendControls(w *builder, ctrls []ResponseControl) {
	if len(ctrls) == 0 {
		return
	}
	w.begin(ctxConstructed | 0)
	for _, c := range ctrls {
		w.begin(tagSequence)
		w.buf = appendString(w.buf, tagOctetString, c.OID)
		if c.Value != nil {
			w.buf = appendTLV(w.buf, tagOctetString, c.Value)
		}
		w.end()
	}
	w.end()
}

// AppendEntry appends a SearchResultEntry. With typesOnly the values are
// left out.
func AppendEntry(b []byte, id int64, dn string, attrs []Attribute, typesOnly bool) []byte {
	w := builder{buf: b}
	w.begin(tagSequence)
	w.buf = appendInt(w.buf, tagInteger, id)
	w.begin(appConstructed | byte(OpSearchResultEntry))
	w.buf = appendString(w.buf, tagOctetString, dn)
	w.begin(tagSequence)
	for _, a := range attrs {
		w.begin(tagSequence)
		w.buf = appendString(w.buf, tagOctetString, a.Name)
		w.begin(tagSet)
		if !typesOnly {
			for _, v := range a.Values {
				w.buf = appendString(w.buf, tagOctetString, v)
			}
		}
		w.end()
		w.end()
	}
	w.end()
	w.end()
	w.end()
	return w.buf
}

// NoticeOfDisconnection is the unsolicited notification sent before the
// server closes a connection it cannot go on with (RFC 4511 §4.4.1).
func NoticeOfDisconnection(code ResultCode, diagnostic string) []byte {
	return AppendResult(nil, 0, OpExtendedResponse, Result{Code: code, Diagnostic: diagnostic, ResponseName: OIDNoticeOfDisconnect})
}

// PagedResultsValue encodes the value of a paged-results control
// (RFC 2696): realSearchValue SEQUENCE { size INTEGER, cookie OCTET STRING }.
func PagedResultsValue(size int64, cookie []byte) []byte {
	w := builder{}
	w.begin(tagSequence)
	w.buf = appendInt(w.buf, tagInteger, size)
	w.buf = appendTLV(w.buf, tagOctetString, cookie)
	w.end()
	return w.buf
}
