package gateway.authz_test

import data.gateway.authz

# --- input builders ---------------------------------------------------------------------

_user(id) := {"id": id, "email": sprintf("%s@example.com", [id]), "roles": [],
	"authenticated": true, "auth_enabled": true, "memberships": {}}

_member_of(id, ent, role) := object.union(_user(id), {"memberships": {ent: {"role": role, "kind": "organization"}}})

_local_dev := {"id": "local-dev", "email": "local-dev@localhost", "roles": [],
	"authenticated": false, "auth_enabled": false, "memberships": {}}

_personal(id, owner) := {"type": "mcp_server", "id": id, "source": "personal", "user_id": owner}

_enterprise_view(id, ent, auto) := {"type": "mcp_server", "id": id, "source": "enterprise",
	"enterprise_id": ent, "auto_enabled": auto}

_ent_server(id, ent) := {"type": "enterprise_mcp_server", "id": id, "enterprise_id": ent,
	"auto_enabled": false}

_member_change(ent, target, current, new, owners) := {"type": "enterprise_member",
	"enterprise_id": ent, "user_id": target, "current_role": current, "new_role": new,
	"owner_count": owners, "enterprise_kind": "organization"}

# `with input.<field>` rather than `with input as {...}`: rego-cpp (regopy 1.5) fails to
# compile a whole-input `with` over rules that call builtins. OPA accepts both.
_decide(action, subject, resource) := d if {
	d := authz.decision with input.action as action
		with input.subject as subject
		with input.resource as resource
		with input.context as {}
}

_codes(d) := {r.code | some r in d.reasons}

# --- personal servers -----------------------------------------------------------------

test_owner_reads_updates_deletes_own_server if {
	every action in ["mcp_server.read", "mcp_server.update", "mcp_server.delete", "mcp_server.launch"] {
		d := _decide(action, _user("alice"), _personal("mcp_1", "alice"))
		d.allow
		d.visible
	}
}

test_other_users_server_is_invisible if {
	d := _decide("mcp_server.read", _user("bob"), _personal("mcp_1", "alice"))
	not d.allow
	not d.visible
}

test_other_users_server_cannot_be_deleted_and_stays_invisible if {
	d := _decide("mcp_server.delete", _user("bob"), _personal("mcp_1", "alice"))
	not d.allow
	not d.visible
}

test_create_only_for_oneself if {
	d1 := _decide("mcp_server.create", _user("alice"), {"type": "mcp_server", "source": "personal", "user_id": "alice"})
	d1.allow
	d2 := _decide("mcp_server.create", _user("alice"), {"type": "mcp_server", "source": "personal", "user_id": "bob"})
	not d2.allow
}

test_unauthenticated_gets_nothing if {
	anon := object.union(_user("alice"), {"authenticated": false})
	d := _decide("mcp_server.read", anon, _personal("mcp_1", "alice"))
	not d.allow
	not d.visible
}

test_local_dev_is_unscoped if {
	d := _decide("mcp_server.delete", _local_dev, _personal("mcp_1", "alice"))
	d.allow
	d.visible
}

# --- enterprise servers through the merged view -------------------------------------------

test_member_reads_auto_enabled_server if {
	d := _decide("mcp_server.read", _member_of("bob", "ent_1", "member"), _enterprise_view("emcp_1", "ent_1", true))
	d.allow
}

test_member_cannot_modify_enterprise_server if {
	d := _decide("mcp_server.delete", _member_of("bob", "ent_1", "member"), _enterprise_view("emcp_1", "ent_1", true))
	d.visible
	not d.allow
	_codes(d) == {"enterprise_managed"}
}

test_plain_enterprise_server_not_in_merged_view if {
	d := _decide("mcp_server.read", _member_of("bob", "ent_1", "member"), _enterprise_view("emcp_1", "ent_1", false))
	not d.visible
}

test_outsider_does_not_see_enterprise_server if {
	d := _decide("mcp_server.read", _user("dave"), _enterprise_view("emcp_1", "ent_1", true))
	not d.visible
}

# --- enterprise endpoints by role ---------------------------------------------------------

test_admin_writes_approved_list if {
	every action in ["enterprise_server.create", "enterprise_server.update", "enterprise_server.delete"] {
		d3 := _decide(action, _member_of("carol", "ent_1", "admin"), _ent_server("emcp_1", "ent_1"))
		d3.allow
	}
}

test_member_reads_but_cannot_write_approved_list if {
	d4 := _decide("enterprise_server.read", _member_of("bob", "ent_1", "member"), _ent_server("emcp_1", "ent_1"))
	d4.allow
	d := _decide("enterprise_server.create", _member_of("bob", "ent_1", "member"), _ent_server("emcp_1", "ent_1"))
	d.visible
	not d.allow
	_codes(d) == {"role_required"}
}

test_admin_of_other_enterprise_sees_nothing if {
	d := _decide("enterprise_server.read", _member_of("carol", "ent_2", "admin"), _ent_server("emcp_1", "ent_1"))
	not d.visible
}

# --- memberships ---------------------------------------------------------------------------

test_admin_adds_member if {
	d5 := _decide("enterprise.members.put", _member_of("carol", "ent_1", "admin"), _member_change("ent_1", "bob", null, "member", 1))
	d5.allow
}

test_admin_cannot_grant_owner if {
	d := _decide("enterprise.members.put", _member_of("carol", "ent_1", "admin"), _member_change("ent_1", "bob", "member", "owner", 1))
	not d.allow
	_codes(d) == {"owner_required"}
}

test_owner_grants_owner if {
	d6 := _decide("enterprise.members.put", _member_of("alice", "ent_1", "owner"), _member_change("ent_1", "bob", "member", "owner", 1))
	d6.allow
}

test_last_owner_cannot_be_demoted if {
	d := _decide("enterprise.members.put", _member_of("alice", "ent_1", "owner"), _member_change("ent_1", "alice", "owner", "admin", 1))
	not d.allow
	"last_owner" in _codes(d)
}

test_last_owner_cannot_leave if {
	d := _decide("enterprise.members.delete", _member_of("alice", "ent_1", "owner"), _member_change("ent_1", "alice", "owner", null, 1))
	not d.allow
	"last_owner" in _codes(d)
}

test_one_of_two_owners_can_leave if {
	d7 := _decide("enterprise.members.delete", _member_of("alice", "ent_1", "owner"), _member_change("ent_1", "alice", "owner", null, 2))
	d7.allow
}

test_member_may_leave if {
	d8 := _decide("enterprise.members.delete", _member_of("bob", "ent_1", "member"), _member_change("ent_1", "bob", "member", null, 1))
	d8.allow
}

test_member_cannot_remove_others if {
	d := _decide("enterprise.members.delete", _member_of("bob", "ent_1", "member"), _member_change("ent_1", "erin", "member", null, 1))
	not d.allow
	_codes(d) == {"role_required"}
}

test_personal_enterprise_takes_no_members if {
	change := object.union(_member_change("ent_p", "bob", null, "member", 1), {"enterprise_kind": "personal"})
	d := _decide("enterprise.members.put", _member_of("alice", "ent_p", "owner"), change)
	not d.allow
	_codes(d) == {"personal_enterprise"}
}

# --- reasons --------------------------------------------------------------------------------

test_allowed_decision_has_no_reasons if {
	count(_decide("mcp_server.read", _user("alice"), _personal("mcp_1", "alice")).reasons) == 0
}

test_denied_decision_always_has_a_reason if {
	d := _decide("audit.read", _member_of("bob", "ent_1", "member"), {"type": "audit_log", "enterprise_id": "ent_1"})
	not d.allow
	count(d.reasons) > 0
}

test_auditor_reads_any_enterprise_log if {
	auditor := object.union(_user("ann"), {"roles": ["auditor"]})
	d9 := _decide("audit.read", auditor, {"type": "audit_log", "enterprise_id": "ent_1"})
	d9.allow
}
