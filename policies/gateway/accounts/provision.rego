# METADATA
# title: Account provisioning
# description: |
#   ADR-0008 "Personal accounts": users of personal-mail domains (data.gateway.
#   personal_mail_domains) get a personal enterprise, as its sole owner, on their first
#   authenticated request.
# schemas:
#   - input: schema.input
package gateway.accounts

# METADATA
# title: Provision
# description: 'Input: {"subject"}. Output: {"personal_enterprise": bool}.'
# entrypoint: true
default provision := {"personal_enterprise": false}

provision := {"personal_enterprise": true} if {
	input.subject.authenticated == true
	input.subject.kind == "user" # a service (a client-credentials token) owns no enterprise
	_domain in data.gateway.personal_mail_domains
}

# The head uses only a plain variable: rego-cpp crashes under `with` on a local ref there.
_domain := lower(domain) if {
	is_string(input.subject.email) # a service has none
	parts := split(input.subject.email, "@")
	count(parts) == 2
	domain := parts[1]
}
