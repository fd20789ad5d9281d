// Package radiusd is the RADIUS server of the outpost: it answers
// Access-Request (PAP) by running the provider's authentik flow, and
// answers Status-Server and Accounting-Request.
//
// # A request's path
//
//  1. The source address picks the provider: the longest prefix across
//     every provider's client_networks (package clients). An unknown client
//     is logged (sampled), counted in
//     authentik_outpost_radius_packets_dropped_total{reason="unknown_client"}
//     and gets no reply: without a shared secret there is nothing to sign a
//     reply with.
//  2. The packet is authenticated before anything else runs. A
//     Message-Authenticator, when present, is verified (HMAC-MD5, RFC 3579);
//     a wrong one means a wrong shared secret or a forgery, and the packet
//     is dropped. An Access-Request without one is dropped too, unless the
//     provider is listed in AllowMissingMessageAuthenticator: requiring it
//     is the Blast-RADIUS (CVE-2024-3596) fix, the opt-out is for old NAS
//     devices that cannot send it. Status-Server always needs one (RFC 5997).
//     An Accounting-Request is authenticated by its Request Authenticator
//     (RFC 2866), which Blast-RADIUS does not affect.
//  3. The reply cache (RFC 5080): a request is identified by client address
//     and port, code, identifier and request authenticator. A retransmit of
//     a request already answered gets the same reply bytes again without
//     running anything; a duplicate of a request still in flight is dropped
//     (the NAS retransmits again later and then gets the cached reply).
//  4. Access-Request: only PAP (User-Password). CHAP, MS-CHAP and EAP are
//     rejected: authentik keeps only password hashes, and its flows never
//     expose an NT hash or clear-text password to an outpost, so neither
//     MS-CHAPv2 nor EAP methods built on it can be verified here.
//     Then, in order: the failed-attempt limiter (credcache.Limiter) per
//     user and per client; the credential cache (credcache.Cache) for
//     providers without mfa_support; the provider's flow with
//     "goauthentik.io/outpost/radius=true" and the NAS address as client IP;
//     check_access, whose attributes (a base64 RADIUS packet) are copied into
//     the Access-Accept.
//  5. Every reply carries a Message-Authenticator, placed first, and a
//     Response Authenticator computed over it; the one exception is the
//     Accounting-Response to an Accounting-Request, which RFC 2866 covers
//     with its Response Authenticator alone (FreeRADIUS's clients check a
//     Message-Authenticator there against another authenticator and
//     discard the reply).
//
// # Cached authentication
//
// A successful PAP check is stored (as an HMAC, never the password) in the
// shared cache together with the reply attributes. While the core answers,
// a cached success younger than FreshFor (60 s by default) is answered
// directly; an older one runs the flow again, so a password change or a
// deactivation takes effect within FreshFor even without SESSION_END. When
// the core does not answer, any cached success within the cache TTL is
// accepted and everything else is rejected. After the core failed once, it
// is considered down for a few seconds, so requests do not each wait for
// it to time out. A core rejection of a cached password voids the entry,
// and SESSION_END for the session it came from (Server.EndSession) too.
//
// The failed-attempt limiter runs before the cache: otherwise a blocked
// client could go on guessing against cached passwords at cache speed.
//
// See docs/decisions/0004-radius-server-loop.md for why the socket loop is
// ours and only layeh.com/radius's packet API is used.
package radiusd
