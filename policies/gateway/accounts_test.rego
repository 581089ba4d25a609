package gateway.accounts_test

import data.gateway.accounts

_subject(email) := {"id": "u1", "email": email, "roles": [], "authenticated": true,
	"auth_enabled": true, "memberships": {}}

test_personal_mail_user_gets_personal_enterprise if {
	accounts.provision.personal_enterprise with input.subject as _subject("Jo@GMail.com")
}

test_corporate_user_does_not if {
	not accounts.provision.personal_enterprise with input.subject as _subject("jo@acme.io")
}

test_malformed_email_does_not if {
	not accounts.provision.personal_enterprise with input.subject as _subject("gmail.com")
}
