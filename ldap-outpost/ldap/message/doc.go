// Package message reads LDAPv3 requests (RFC 4511) off a connection and
// writes responses.
//
// Requests are framed here (so a maximum message size is enforced before
// anything is allocated) and decoded with github.com/go-asn1-ber/asn1-ber.
// Responses are appended to byte slices by a small BER encoder of our own:
// a search can send thousands of entries, and building a packet tree for each
// would cost more than the search itself.
//
// Every operation of RFC 4511 is recognised, so the server can answer each one
// (even if only with unwillingToPerform) instead of dropping the connection.
package message
