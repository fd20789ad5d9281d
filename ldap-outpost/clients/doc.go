// Package clients holds no code: its tests run the ldap-outpost binary
// against the stand-in core and drive it the way real LDAP clients do
// (SSSD, Gitea, Nextcloud), with exactly the configurations that
// docs/guides/ldap-*.md show.
package clients
