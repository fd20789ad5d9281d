// Package proxyproto accepts connections that arrive through a load balancer
// speaking the PROXY protocol (HAProxy's v1 text and v2 binary headers), so
// a server sees the real client address in RemoteAddr.
//
// # Who is believed
//
// A PROXY header is a claim about who the client is. Anyone who can open a
// connection can send one, so a header is honoured only from a peer whose
// address is in the allow-list (AUTHENTIK_LISTEN__TRUSTED_PROXY_CIDRS, the
// variable authentik's outposts read for the same purpose):
//
//   - From a trusted peer the header is required by default (a connection
//     without one fails on its first Read); with HeaderOptional it may be
//     left out, and the peer's own address is used.
//   - From any other peer no header is looked for: the bytes reach the server
//     untouched, so a forged header is just malformed protocol data (LDAP
//     rejects it as a protocol error) and RemoteAddr is the peer's address.
//     This is authentik's "SKIP" policy.
//
// authentik trusts the private ranges by default with the header optional.
// We trust nobody by default (an unset variable means "no PROXY protocol"):
// a client that can forge its address could dodge per-address rate limits.
//
// # When the header is read
//
// Not in Accept, which would let one slow client stall every other
// connection, but on the connection's first Read, RemoteAddr or LocalAddr,
// under the listener's header timeout. A header error is returned from that
// Read (and RemoteAddr falls back to the peer's address), so the server's
// per-connection goroutine sees it and closes the connection.
package proxyproto
