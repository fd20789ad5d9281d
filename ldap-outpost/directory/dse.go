package directory

import (
	"github.com/outpost-go/outposts/ldap-outpost/ldap/message"
)

// SubschemaDN is where the schema is published.
const SubschemaDN = "cn=subschema"

// SupportedControls are the request controls the server understands.
var SupportedControls = []string{message.ControlPagedResults}

// SupportedExtensions are the extended operations the server answers.
var SupportedExtensions = []string{message.OIDStartTLS, message.OIDWhoAmI}

// RootDSE is the server's root entry (RFC 4512 §5.1). namingContexts are the
// providers' base DNs; it is served to anonymous clients too, so they can
// discover the base DN (Nextcloud, SSSD).
func RootDSE(namingContexts []string, vendorVersion string) *Entry {
	return newEntry("", KindBase, []message.Attribute{
		{Name: "objectClass", Values: []string{"top"}},
		{Name: "namingContexts", Values: namingContexts},
		{Name: "supportedLDAPVersion", Values: []string{"3"}},
		{Name: "supportedControl", Values: SupportedControls},
		{Name: "supportedExtension", Values: SupportedExtensions},
		{Name: "supportedFeatures", Values: []string{message.FeatureAllOpAttributes, "1.3.6.1.4.1.4203.1.5.3"}},
		{Name: "supportedSASLMechanisms", Values: nil},
		{Name: "subschemaSubentry", Values: []string{SubschemaDN}},
		{Name: "vendorName", Values: []string{"goauthentik.io"}},
		{Name: "vendorVersion", Values: []string{vendorVersion}},
	})
}

// oidArc is the arc authentik uses for its own schema elements.
const oidArc = "1.3.6.1.4.1.26027.1.1."

// Subschema describes the attributes and object classes entries use, with
// standard OIDs where they exist.
func Subschema() *Entry {
	return newEntry(SubschemaDN, KindBase, []message.Attribute{
		{Name: "objectClass", Values: []string{"top", "subSchema"}},
		{Name: "cn", Values: []string{"subschema"}},
		{Name: "ldapSyntaxes", Values: []string{
			"( 1.3.6.1.4.1.1466.115.121.1.7 DESC 'Boolean' )",
			"( 1.3.6.1.4.1.1466.115.121.1.12 DESC 'Distinguished Name' )",
			"( 1.3.6.1.4.1.1466.115.121.1.15 DESC 'Directory String' )",
			"( 1.3.6.1.4.1.1466.115.121.1.26 DESC 'IA5 String' )",
			"( 1.3.6.1.4.1.1466.115.121.1.27 DESC 'Integer' )",
			"( 1.3.6.1.4.1.1466.115.121.1.38 DESC 'OID' )",
		}},
		{Name: "attributeTypes", Values: []string{
			"( 2.5.4.0 NAME 'objectClass' EQUALITY objectIdentifierMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.38 )",
			"( 2.5.4.3 NAME ( 'cn' 'commonName' ) EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
			"( 2.5.4.4 NAME ( 'sn' 'surname' ) EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
			"( 2.5.4.11 NAME ( 'ou' 'organizationalUnitName' ) EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
			"( 2.5.4.31 NAME 'member' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )",
			"( 2.5.4.41 NAME 'name' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
			"( 2.5.4.49 NAME 'distinguishedName' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 )",
			"( 0.9.2342.19200300.100.1.1 NAME 'uid' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 )",
			"( 0.9.2342.19200300.100.1.3 NAME 'mail' EQUALITY caseIgnoreIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 )",
			"( 0.9.2342.19200300.100.1.25 NAME 'dc' EQUALITY caseIgnoreIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )",
			"( 1.3.6.1.1.1.1.0 NAME 'uidNumber' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
			"( 1.3.6.1.1.1.1.1 NAME 'gidNumber' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
			"( 1.3.6.1.1.1.1.3 NAME 'homeDirectory' EQUALITY caseExactIA5Match SYNTAX 1.3.6.1.4.1.1466.115.121.1.26 SINGLE-VALUE )",
			"( 2.16.840.1.113730.3.1.241 NAME 'displayName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
			"( 1.2.840.113556.1.2.102 NAME 'memberOf' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 NO-USER-MODIFICATION )",
			"( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
			"( " + oidArc + "1 NAME 'ak-active' EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE )",
			"( " + oidArc + "2 NAME 'ak-superuser' EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE )",
			"( 1.3.6.1.1.20 NAME 'entryDN' EQUALITY distinguishedNameMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.12 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
		}},
		{Name: "objectClasses", Values: []string{
			"( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
			"( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) )",
			"( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL )",
			"( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL MAY ( mail $ uid $ displayName ) )",
			"( 1.2.840.113556.1.5.9 NAME 'user' SUP organizationalPerson STRUCTURAL MAY ( sAMAccountName $ memberOf ) )",
			"( 1.3.6.1.1.1.2.0 NAME 'posixAccount' SUP top AUXILIARY MUST ( cn $ uid $ uidNumber $ gidNumber $ homeDirectory ) )",
			"( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL MUST cn MAY ( member $ memberOf $ sAMAccountName ) )",
			"( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST cn MAY member )",
			"( 2.5.6.17 NAME 'groupOfUniqueNames' SUP top STRUCTURAL MUST cn )",
			"( 1.3.6.1.1.1.2.2 NAME 'posixGroup' SUP top AUXILIARY MUST ( cn $ gidNumber ) )",
			"( " + oidArc + "100 NAME 'goauthentik.io/ldap/user' SUP top AUXILIARY MAY ( ak-active $ ak-superuser ) )",
			"( " + oidArc + "101 NAME 'goauthentik.io/ldap/group' SUP top AUXILIARY MAY ak-superuser )",
			"( " + oidArc + "102 NAME 'goauthentik.io/ldap/virtual-group' SUP top AUXILIARY )",
		}},
	})
}
