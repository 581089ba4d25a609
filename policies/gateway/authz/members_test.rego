package gateway.authz_test

import data.gateway.fixtures_test as f

# METADATA
# title: Tests of members and invitations (members.rego)
# description: |
#   Who invites whom, who changes roles, who removes and who leaves; the owner role is the
#   owners' to give or take, an enterprise keeps its last owner, and only the invitee sees,
#   accepts or declines an invitation.
#   Run: `opa test policies` (OPA) or `.venv/bin/gateway policy test` (the embedded engine).
_invited(role) := {"role": role, "status": "invited"}

_active(role) := {"role": role, "status": "active"}

_change(resource, fields) := object.union(resource, fields)

# --- inviting ---------------------------------------------------------------------------------

test_admin_invites_a_member if {
	nobody := f.member("ent_1", "bob", null, null, 1)
	d := f.decide(
		"enterprise.members.invite", f.member_of("carol", "ent_1", "admin"),
		nobody, _change(nobody, _invited("member")),
	)
	f.allowed(d)
}

test_admin_cannot_invite_an_owner if {
	nobody := f.member("ent_1", "bob", null, null, 1)
	d := f.decide(
		"enterprise.members.invite", f.member_of("carol", "ent_1", "admin"),
		nobody, _change(nobody, _invited("owner")),
	)
	f.refused(d, {"owner_required"})
}

test_owner_invites_an_owner if {
	nobody := f.member("ent_1", "bob", null, null, 1)
	f.allowed(f.decide(
		"enterprise.members.invite", f.member_of("alice", "ent_1", "owner"),
		nobody, _change(nobody, _invited("owner")),
	))
}

test_members_cannot_invite if {
	nobody := f.member("ent_1", "erin", null, null, 1)
	d := f.decide(
		"enterprise.members.invite", f.member_of("bob", "ent_1", "member"),
		nobody, _change(nobody, _invited("member")),
	)
	f.refused(d, {"role_required"})
}

test_outsiders_cannot_invite_and_see_nothing if {
	nobody := f.member("ent_1", "erin", null, null, 1)
	f.invisible(f.decide("enterprise.members.invite", f.user("dave"), nobody, _change(nobody, _invited("member"))))
}

test_a_personal_enterprise_takes_no_invitations if {
	nobody := f.with_fields(f.member("ent_p", "bob", null, null, 1), {"enterprise_kind": "personal"})
	d := f.decide(
		"enterprise.members.invite", f.member_of("alice", "ent_p", "owner"),
		nobody, _change(nobody, _invited("member")),
	)
	f.refused(d, {"personal_enterprise"})
}

test_admin_revokes_an_invitation_but_not_an_owners if {
	admin := f.member_of("carol", "ent_1", "admin")
	f.allowed(f.decide("enterprise.invitations.revoke", admin, f.member("ent_1", "bob", "member", "invited", 1), null))
	f.refused(
		f.decide(
			"enterprise.invitations.revoke", admin,
			f.member("ent_1", "bob", "owner", "invited", 1), null,
		),
		{"owner_required"},
	)
}

# --- roles of active members --------------------------------------------------------------------

test_admin_changes_a_members_role if {
	bob := f.member("ent_1", "bob", "member", "active", 1)
	f.allowed(f.decide(
		"enterprise.members.update", f.member_of("carol", "ent_1", "admin"),
		bob, _change(bob, _active("admin")),
	))
}

test_admin_cannot_grant_owner if {
	bob := f.member("ent_1", "bob", "member", "active", 1)
	d := f.decide(
		"enterprise.members.update", f.member_of("carol", "ent_1", "admin"),
		bob, _change(bob, _active("owner")),
	)
	f.refused(d, {"owner_required"})
	d.reasons == {{"code": "owner_required", "message": "only an owner of ent_1 can grant or remove the owner role"}}
}

test_owner_grants_owner if {
	bob := f.member("ent_1", "bob", "member", "active", 1)
	f.allowed(f.decide(
		"enterprise.members.update", f.member_of("alice", "ent_1", "owner"),
		bob, _change(bob, _active("owner")),
	))
}

test_the_last_owner_cannot_be_demoted if {
	alice := f.member("ent_1", "alice", "owner", "active", 1)
	d := f.decide(
		"enterprise.members.update", f.member_of("alice", "ent_1", "owner"),
		alice, _change(alice, _active("admin")),
	)
	f.refused(d, {"last_owner"})
}

test_one_of_two_owners_can_be_demoted if {
	alice := f.member("ent_1", "alice", "owner", "active", 2)
	f.allowed(f.decide(
		"enterprise.members.update", f.member_of("alice", "ent_1", "owner"),
		alice, _change(alice, _active("admin")),
	))
}

# --- removing and leaving -----------------------------------------------------------------------

test_the_last_owner_cannot_leave if {
	alice := f.member("ent_1", "alice", "owner", "active", 1)
	d := f.decide("enterprise.members.remove", f.member_of("alice", "ent_1", "owner"), alice, null)
	f.refused(d, {"last_owner"})
	d.reasons == {{"code": "last_owner", "message": "alice is the last owner of ent_1: add another owner first"}}
}

test_one_of_two_owners_can_leave if {
	alice := f.member("ent_1", "alice", "owner", "active", 2)
	f.allowed(f.decide("enterprise.members.remove", f.member_of("alice", "ent_1", "owner"), alice, null))
}

test_a_member_may_leave if {
	bob := f.member("ent_1", "bob", "member", "active", 1)
	f.allowed(f.decide("enterprise.members.remove", f.member_of("bob", "ent_1", "member"), bob, null))
}

test_a_member_cannot_remove_others if {
	erin := f.member("ent_1", "erin", "member", "active", 1)
	f.refused(
		f.decide(
			"enterprise.members.remove", f.member_of("bob", "ent_1", "member"),
			erin, null,
		),
		{"role_required"},
	)
}

test_nobody_leaves_a_personal_enterprise if {
	alice := f.with_fields(f.member("ent_p", "alice", "owner", "active", 1), {"enterprise_kind": "personal"})
	d := f.decide("enterprise.members.remove", f.member_of("alice", "ent_p", "owner"), alice, null)
	not d.allow
	"personal_enterprise" in f.codes(d)
}

# --- the invitee ----------------------------------------------------------------------------------

test_the_invitee_lists_accepts_and_declines if {
	invitation := f.invitation("ent_1", "bob", "member")
	bob := f.user("bob")
	f.allowed(f.decide("invitation.list", bob, {"type": "invitation", "user_id": "bob"}, null))
	every action in ["invitation.accept", "invitation.decline"] {
		f.allowed(f.decide(action, bob, invitation, null))
	}
}

test_nobody_else_sees_an_invitation if {
	invitation := f.invitation("ent_1", "bob", "member")
	f.invisible(f.decide("invitation.accept", f.user("mallory"), invitation, null))
	f.invisible(f.decide("invitation.accept", f.member_of("alice", "ent_1", "owner"), invitation, null))
}

test_an_invitation_grants_no_role if {
	# bob is invited, not a member: his subject has no membership, so nothing of ent_1.
	bob := f.user("bob")
	f.invisible(f.decide("enterprise.read", bob, f.enterprise("ent_1", "organization"), null))
	f.invisible(f.decide("enterprise_server.read", bob, f.enterprise_server("emcp_1", "ent_1", true), null))
	f.invisible(f.decide("mcp_server.read", bob, f.view_server("emcp_1", "ent_1", true), null))
}
