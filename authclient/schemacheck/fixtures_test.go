package schemacheck_test

// contractBodies are the example bodies of core-contract.md §7.4, each with
// the operation it answers. They decode with the generated client, so the
// validator must accept every one of them.
var contractBodies = []struct {
	name   string
	method string
	path   string
	status int
	body   string
}{
	{"instances", "GET", "/outposts/instances/", 200, `{"pagination":{"next":0,"previous":0,"count":1,"current":1,"total_pages":1,"start_index":1,"end_index":1},
 "results":[{"pk":"3f1c0c1a-1111-4a6e-9a58-5a2d6e1b0c01","name":"ldap-outpost","type":"ldap","providers":[1],
   "providers_obj":[{"pk":1,"name":"ldap-provider","authentication_flow":null,"authorization_flow":"8f6f2b1e-0000-4000-8000-000000000001","invalidation_flow":"8f6f2b1e-0000-4000-8000-000000000002","property_mappings":[],"component":"ak-provider-ldap-form","assigned_application_slug":"ldap-app","assigned_application_name":"LDAP App","assigned_backchannel_application_slug":null,"assigned_backchannel_application_name":null,"verbose_name":"LDAP Provider","verbose_name_plural":"LDAP Providers","meta_model_name":"authentik_providers_ldap.ldapprovider"}],
   "service_connection":null,"service_connection_obj":null,"refresh_interval_s":300,
   "token_identifier":"ak-outpost-3f1c0c1a-1111-4a6e-9a58-5a2d6e1b0c01-api",
   "config":{"authentik_host":"https://auth.example.com/","authentik_host_insecure":false,"authentik_host_browser":"","log_level":"info","refresh_interval":"minutes=5"},
   "managed":null}],
 "autocomplete":{}}`},
	{"root config", "GET", "/root/config/", 200, `{"error_reporting":{"enabled":false,"sentry_dsn":"","environment":"customer","send_pii":false,"traces_sample_rate":0.0},"capabilities":[],"cache_timeout":300,"cache_timeout_flows":300,"cache_timeout_policies":300}`},
	{"ldap providers", "GET", "/outposts/ldap/", 200, page(`{"pk":1,"name":"ldap-provider","base_dn":"dc=ldap,dc=goauthentik,dc=io","bind_flow_slug":"default-authentication-flow","unbind_flow_slug":"default-invalidation-flow","application_slug":"ldap-app","certificate":null,"tls_server_name":"","uid_start_number":2000,"gid_start_number":4000,"search_mode":"direct","bind_mode":"direct","mfa_support":true}`)},
	{"radius providers", "GET", "/outposts/radius/", 200, page(`{"pk":2,"name":"radius-provider","application_slug":"radius-app","auth_flow_slug":"default-authentication-flow","client_networks":"0.0.0.0/0, ::/0","shared_secret":"s3cret","mfa_support":true,"certificate":null}`)},
	{"proxy providers", "GET", "/outposts/proxy/?page=1&page_size=100", 200, page(`{"pk":3,"name":"proxy-provider","internal_host":"http://whoami:80","external_host":"https://app.example.com","internal_host_ssl_validation":true,
 "client_id":"proxyclientid","client_secret":"proxyclientsecret",
 "oidc_configuration":{"issuer":"https://auth.example.com/application/o/proxy-app/","authorization_endpoint":"https://auth.example.com/application/o/authorize/","token_endpoint":"https://auth.example.com/application/o/token/","userinfo_endpoint":"https://auth.example.com/application/o/userinfo/","end_session_endpoint":"https://auth.example.com/application/o/proxy-app/end-session/","introspection_endpoint":"https://auth.example.com/application/o/introspect/","jwks_uri":"https://auth.example.com/application/o/proxy-app/jwks/","response_types_supported":["code"],"id_token_signing_alg_values_supported":["RS256"],"subject_types_supported":["public"],"token_endpoint_auth_methods_supported":["client_secret_post","client_secret_basic"]},
 "cookie_secret":"0123456789abcdef0123456789abcdef","certificate":null,"skip_path_regex":"","basic_auth_enabled":false,"basic_auth_password_attribute":"","basic_auth_user_attribute":"","mode":"proxy","cookie_domain":"","access_token_validity":86400,"intercept_header_auth":true,"scopes_to_request":["openid","profile","email","ak_proxy"],"assigned_application_slug":"proxy-app","assigned_application_name":"Proxy App"}`)},
	{"identification", "GET", "/flows/executor/default-authentication-flow/?query=goauthentik.io%2Foutpost%2Fldap%3Dtrue", 200, `{"flow_info":{"title":"Welcome","cancel_url":"/flows/-/cancel/","layout":"stacked"},"component":"ak-stage-identification","user_fields":["username","email"],"password_fields":true,"flow_designation":"authentication","primary_action":"Log in","show_source_labels":false,"sources":[]}`},
	{"password", "POST", "/flows/executor/default-authentication-flow/", 200, `{"component":"ak-stage-password","pending_user":"akadmin","pending_user_avatar":"data:,"}`},
	{"password error", "POST", "/flows/executor/default-authentication-flow/", 200, `{"component":"ak-stage-password","pending_user":"akadmin","pending_user_avatar":"data:,","response_errors":{"password":[{"string":"Invalid password","code":"invalid"}]}}`},
	{"authenticator validate", "POST", "/flows/executor/default-authentication-flow/", 200, `{"component":"ak-stage-authenticator-validate","pending_user":"akadmin","pending_user_avatar":"data:,","device_challenges":[{"device_class":"totp","device_uid":"1","challenge":{},"last_used":null},{"device_class":"static","device_uid":"2","challenge":{},"last_used":null}],"configuration_stages":[]}`},
	{"user login", "POST", "/flows/executor/default-authentication-flow/", 200, `{"component":"ak-stage-user-login","pending_user":"akadmin","pending_user_avatar":"data:,"}`},
	{"access denied", "POST", "/flows/executor/default-authentication-flow/", 200, `{"component":"ak-stage-access-denied","pending_user":"akadmin","pending_user_avatar":"data:,","error_message":"Access denied"}`},
	{"redirect", "POST", "/flows/executor/default-authentication-flow/", 200, `{"component":"xak-flow-redirect","to":"/"}`},
	{"app check access", "GET", "/core/applications/ldap-app/check_access/", 200, `{"passing":true,"messages":[],"log_messages":[]}`},
	{"ldap check access", "GET", "/outposts/ldap/1/check_access/?app_slug=ldap-app", 200, `{"has_search_permission":true,"access":{"passing":true,"messages":[],"log_messages":[]}}`},
	{"radius check access", "GET", "/outposts/radius/2/check_access/?app_slug=radius-app", 200, `{"attributes":"","access":{"passing":true,"messages":[],"log_messages":[]}}`},
	{"users me", "GET", "/core/users/me/", 200, `{"user":{"pk":7,"username":"akadmin","name":"authentik Default Admin","is_active":true,"is_superuser":true,"groups":[{"name":"authentik Admins","pk":"9d6a0000-0000-4000-8000-000000000010"}],"roles":[],"email":"admin@example.com","avatar":"data:,","uid":"2f0a...hash","settings":{},"type":"internal","system_permissions":[]}}`},
	{"users list", "GET", "/api/v3/core/users/?page=1&page_size=100", 200, page(userItem)},
	{"user", "GET", "/core/users/7/", 200, userItem},
	{"groups list", "GET", "/core/groups/?members_by_pk=7", 200, page(`{"pk":"9d6a0000-0000-4000-8000-000000000010","num_pk":1,"name":"authentik Admins","is_superuser":true,"parents":[],"parents_obj":[],"users":[7],"users_obj":[{"pk":7,"username":"akadmin","name":"authentik Default Admin","is_active":true,"last_login":null,"email":"admin@example.com","attributes":{},"uid":"2f0a...hash"}],"attributes":{},"roles":[],"roles_obj":[],"inherited_roles_obj":[],"children":[],"children_obj":[]}`)},
	{"keypair", "GET", "/crypto/certificatekeypairs/c0ffee00-0000-4000-8000-000000000001/", 200, `{"pk":"c0ffee00-0000-4000-8000-000000000001","name":"ldap-cert","fingerprint_sha256":"ab:cd","fingerprint_sha1":"ab:cd","cert_expiry":"2027-01-01T00:00:00Z","cert_subject":"CN=ldap.example.com","private_key_available":true,"key_type":"rsa","certificate_download_url":"/api/v3/crypto/certificatekeypairs/c0ffee00-0000-4000-8000-000000000001/view_certificate/?download","private_key_download_url":"/api/v3/crypto/certificatekeypairs/c0ffee00-0000-4000-8000-000000000001/view_private_key/?download","managed":null}`},
	{"view certificate", "GET", "/crypto/certificatekeypairs/c0ffee00-0000-4000-8000-000000000001/view_certificate/", 200, `{"data":"-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n"}`},
	{"view private key", "GET", "/crypto/certificatekeypairs/c0ffee00-0000-4000-8000-000000000001/view_private_key/", 200, `{"data":""}`},
	{"forbidden", "GET", "/outposts/instances/", 403, `{"detail":"Authentication credentials were not provided."}`},
}

const userItem = `{"pk":7,"username":"akadmin","name":"authentik Default Admin","is_active":true,"last_login":null,"date_joined":"2026-01-01T00:00:00Z","is_superuser":true,"groups":["9d6a0000-0000-4000-8000-000000000010"],"groups_obj":[{"pk":"9d6a0000-0000-4000-8000-000000000010","num_pk":1,"name":"authentik Admins","is_superuser":true,"attributes":{}}],"roles":[],"roles_obj":[],"email":"admin@example.com","avatar":"data:,","attributes":{},"uid":"2f0a...hash","path":"users","type":"internal","uuid":"5b1e0000-0000-4000-8000-000000000007","password_change_date":"2026-01-01T00:00:00Z","last_updated":"2026-01-01T00:00:00Z"}`

func page(item string) string {
	return `{"pagination":{"next":0,"previous":0,"count":1,"current":1,"total_pages":1,"start_index":1,"end_index":1},"results":[` + item + `],"autocomplete":{}}`
}
