occ ldap:create-empty-config
occ ldap:set-config s01 ldapHost 'ldap://ldap.example.com'
occ ldap:set-config s01 ldapPort 389
occ ldap:set-config s01 ldapTLS 1
occ ldap:set-config s01 ldapAgentName 'cn=svc-ldap,ou=users,dc=ldap,dc=goauthentik,dc=io'
occ ldap:set-config s01 ldapAgentPassword 'svc-ldap-password'
occ ldap:set-config s01 ldapBase 'dc=ldap,dc=goauthentik,dc=io'
occ ldap:set-config s01 ldapBaseUsers 'ou=users,dc=ldap,dc=goauthentik,dc=io'
occ ldap:set-config s01 ldapBaseGroups 'ou=groups,dc=ldap,dc=goauthentik,dc=io'
occ ldap:set-config s01 ldapUserFilterMode 1
occ ldap:set-config s01 ldapUserFilter '(&(objectclass=user)(ak-active=TRUE)(memberof=cn=staff,ou=groups,dc=ldap,dc=goauthentik,dc=io))'
occ ldap:set-config s01 ldapLoginFilterMode 1
occ ldap:set-config s01 ldapLoginFilter '(&(objectclass=user)(ak-active=TRUE)(memberof=cn=staff,ou=groups,dc=ldap,dc=goauthentik,dc=io)(|(cn=%uid)(mail=%uid)))'
occ ldap:set-config s01 ldapGroupFilterMode 1
occ ldap:set-config s01 ldapGroupFilter '(&(objectclass=group)(|(cn=staff)(cn=gitea-admins)))'
occ ldap:set-config s01 ldapUserDisplayName name
occ ldap:set-config s01 ldapEmailAttribute mail
occ ldap:set-config s01 ldapGroupDisplayName cn
occ ldap:set-config s01 ldapGroupMemberAssocAttr member
occ ldap:set-config s01 useMemberOfToDetectMembership 1
occ ldap:set-config s01 ldapExpertUsernameAttr cn
occ ldap:set-config s01 ldapExpertUUIDUserAttr uid
occ ldap:set-config s01 ldapExpertUUIDGroupAttr uid
occ ldap:set-config s01 ldapPagingSize 500
occ ldap:set-config s01 ldapConfigurationActive 1
occ ldap:test-config s01
