package gateway.accounts_test

import data.gateway.accounts
import data.gateway.fixtures_test as f

_with_email(email) := object.union(f.user("u1"), {"email": email})

test_personal_mail_user_gets_personal_enterprise if {
	accounts.provision.personal_enterprise with input.subject as _with_email("Jo@GMail.com")
}

test_corporate_user_does_not if {
	not accounts.provision.personal_enterprise with input.subject as _with_email("jo@acme.io")
}

test_malformed_email_does_not if {
	not accounts.provision.personal_enterprise with input.subject as _with_email("gmail.com")
}

test_unauthenticated_does_not if {
	subject := object.union(_with_email("jo@gmail.com"), {"authenticated": false})
	not accounts.provision.personal_enterprise with input.subject as subject
}
