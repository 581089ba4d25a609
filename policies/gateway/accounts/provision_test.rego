# METADATA
# title: Tests of account provisioning (gateway.accounts)
# description: |
#   A user of a personal-mail domain gets a personal enterprise; a corporate, malformed or
#   unauthenticated address does not.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
package gateway.accounts_test

import data.gateway.accounts
import data.gateway.fixtures_test as f

_with_email(email) := object.union(f.user("u1"), {"email": email})

test_a_personal_mail_user_gets_a_personal_enterprise if {
	accounts.provision.personal_enterprise with input.subject as _with_email("Jo@GMail.com")
}

test_a_corporate_user_gets_none if {
	not accounts.provision.personal_enterprise with input.subject as _with_email("jo@acme.io")
}

test_a_malformed_email_gets_none if {
	not accounts.provision.personal_enterprise with input.subject as _with_email("gmail.com")
}

test_an_unauthenticated_caller_gets_none if {
	subject := object.union(_with_email("jo@gmail.com"), {"authenticated": false})
	not accounts.provision.personal_enterprise with input.subject as subject
}

test_a_service_gets_none if {
	subject := f.service("billing-app")
	not accounts.provision.personal_enterprise with input.subject as subject
}
