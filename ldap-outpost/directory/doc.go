// Package directory holds one LDAP provider's view of authentik's users and
// groups as an immutable snapshot, laid out as authentik's LDAP outpost lays
// it out:
//
//	<base>                               objectClass top, domain
//	ou=users,<base>                      objectClass top, nsContainer
//	  cn=<username>,ou=users,<base>      one per user
//	ou=groups,<base>
//	  cn=<group name>,ou=groups,<base>   one per group
//	ou=virtual-groups,<base>
//	  cn=<username>,ou=virtual-groups,<base>  each user's private group
//
// DNs are lower-cased, as authentik does, and RDN values are escaped
// (RFC 4514), which authentik does not do. Attributes and their values follow
// authentik's entries.go and group.go, including custom attributes flattened
// with authentik's key sanitising; a custom attribute wins over a built-in
// one of the same name, as in authentik.
//
// A Snapshot never changes once built: searches hold a pointer to one while a
// refresh builds the next, and paged searches keep paging through the
// snapshot they started on.
package directory
