"""The Redis key layout, ready for Redis Cluster from day one.

Keys that change together share a hash tag, so every Lua script and MULTI touches one slot:

    gw:{u:<user>}:srv:<server_id>    personal server record (msgspec JSON)
    gw:{u:<user>}:srvs               set of the user's server ids
    gw:{u:<user>}:gen                generation, INCR'd by every write to the user's servers
    gw:{u:<user>}:ents               membership hints: enterprise id -> "<ms>:<nonce>"
    gw:{u:<user>}:personal           the personal-enterprise claim (its enterprise id)
    gw:{e:<ent>}:srv:<server_id>     enterprise server record
    gw:{e:<ent>}:srvs / :gen         its index set and generation
    gw:{e:<ent>}:ent                 enterprise record
    gw:{e:<ent>}:members             hash user -> role (the truth about membership)
    gw:{e:<ent>}:invites             hash user -> Invitation (msgspec JSON): pending invitations
    gw:{e:<ent>}:mver                roster version (members and invitations; the optimistic check)
    gw:{e:<ent>}:deleting            set while the enterprise is being deleted (hides it)
    gw:{u:<user>}:invites            invitation hints: enterprise id -> "<ms>:<nonce>"
    gw:{u:<user>}:rate:<window>      requests in one rate-limit window (expires after it)
    gw:{u:<user>}:idem:<scope>       an Idempotency-Key's claim (for its lease)
    gw:{u:<user>}:idem-kept          hash scope -> kept answer (bounded per user; TTL)
    gw:{u:<user>}:idem-order         sorted set scope -> when kept (ms): expiry and eviction
    gw:deleting                      sorted set: enterprises whose deletion began (score: ms)
    gw:loc:{<server_id>}             personal server id -> user id (GET by id without a scan)
    gw:eloc:{<server_id>}            enterprise server id -> enterprise id
    gw:pins:{<server_id>}            hash tool name -> ToolPin (msgspec JSON): pinned tools
    gw:appr:{<approval_id>}          an approval of a tool call (msgspec JSON; expires)
    gw:appr-for:{<binding>}          the newest approval id of one exact call (expires)
    gw:approvals                     sorted set approval id by creation (ms): the list
    gw:users / gw:ents               owners that ever had a server (unscoped local-dev list)
    gw:{audit}:log                   the decision log: a Stream, entry id `0-<seq>`
    gw:{audit}:head                  hash: seq/hash of the newest record, floor_seq/floor_hash
                                     of the last one retention removed, bytes kept
    gw:{audit}:time                  sorted set seq by timestamp (ms): since/until bounds
    gw:{audit}:user:<id> / ent:<id> / res:<id> / req:<id>
                                     sorted sets of seqs: the query indexes
    gw:{audit}:id:<decision_id>      the seq of a decision id

Writes spanning two slots are ordered so a crash between them leaves a state that reads
ignore or repair, never a wrong answer:

- server create: locator, then the record (Lua), then `gw:users`/`gw:ents`; server delete:
  the record (Lua), then the locator. A locator without a record reads as "not found".
- membership add / role change / enterprise create / invitation / acceptance: the user's
  hint, then the enterprise side (Lua). Removal, revocation, declining: the enterprise side,
  then the hint. `memberships_of` and `invitations_of` trust the enterprise side only and
  garbage-collect hints it does not confirm.
- enterprise delete: `gw:deleting` (the intent), then the `:deleting` mark (from then on the
  enterprise reads as missing), then its servers and secrets, then one Lua script removes
  the enterprise's keys, then `gw:deleting`. A crash anywhere leaves the intent, which the
  deletion finisher completes (docs/storage.md).
- decision log: one Lua script appends a batch (stream, indexes, head) and trims what
  retention removes, all in the `{audit}` slot: one chain every replica appends to.
- personal enterprise: `SET ...:personal NX` picks the winner; whoever finds the claimed
  enterprise missing creates it under the claimed id (idempotent `SET NX`).

User, enterprise and server ids never contain braces (see `gateway.domain.ids`), so the
`}` we write always closes the tag.
"""

from __future__ import annotations

PREFIX = "gw"
USERS = f"{PREFIX}:users"
ENTERPRISES = f"{PREFIX}:ents"
DELETING = f"{PREFIX}:deleting"


def _tag(kind: str, owner_id: str) -> str:
    if "{" in owner_id or "}" in owner_id:
        # A brace would move the hash tag and could make two owners' keys collide.
        raise ValueError(f"id {owner_id!r} must not contain braces")
    return f"{PREFIX}:{{{kind}:{owner_id}}}"


def user_tag(user_id: str) -> str:
    return _tag("u", user_id)


def enterprise_tag(enterprise_id: str) -> str:
    return _tag("e", enterprise_id)


# Personal servers.
def user_server(user_id: str, server_id: str) -> str:
    return f"{user_tag(user_id)}:srv:{server_id}"


def user_servers(user_id: str) -> str:
    return f"{user_tag(user_id)}:srvs"


def rate_window(user_id: str, window: int) -> str:
    return f"{user_tag(user_id)}:rate:{window}"


def user_generation(user_id: str) -> str:
    return f"{user_tag(user_id)}:gen"


def user_view(user_id: str) -> str:
    """The user's cached merged view, under the user's hash tag (next to its generation)."""
    return f"{user_tag(user_id)}:view"


def server_locator(server_id: str) -> str:
    return f"{PREFIX}:loc:{{{server_id}}}"


# Enterprise servers.
def enterprise_server(enterprise_id: str, server_id: str) -> str:
    return f"{enterprise_tag(enterprise_id)}:srv:{server_id}"


def enterprise_servers(enterprise_id: str) -> str:
    return f"{enterprise_tag(enterprise_id)}:srvs"


def enterprise_generation(enterprise_id: str) -> str:
    return f"{enterprise_tag(enterprise_id)}:gen"


def enterprise_server_locator(server_id: str) -> str:
    # Its own namespace: a personal-store read must never clean up an enterprise locator.
    return f"{PREFIX}:eloc:{{{server_id}}}"


def tool_pins(server_id: str) -> str:
    """A server's pinned tools (docs/adr/0057-tool-integrity.md): one hash per server."""
    return f"{PREFIX}:pins:{{{server_id}}}"


def approval(approval_id: str) -> str:
    return f"{PREFIX}:appr:{{{approval_id}}}"


def approval_binding(binding: str) -> str:
    return f"{PREFIX}:appr-for:{{{binding}}}"


APPROVALS = f"{PREFIX}:approvals"


# Enterprises and membership.
def enterprise(enterprise_id: str) -> str:
    return f"{enterprise_tag(enterprise_id)}:ent"


def enterprise_members(enterprise_id: str) -> str:
    return f"{enterprise_tag(enterprise_id)}:members"


def enterprise_members_version(enterprise_id: str) -> str:
    return f"{enterprise_tag(enterprise_id)}:mver"


def enterprise_invitations(enterprise_id: str) -> str:
    return f"{enterprise_tag(enterprise_id)}:invites"


def enterprise_deleting(enterprise_id: str) -> str:
    return f"{enterprise_tag(enterprise_id)}:deleting"


def user_invitations(user_id: str) -> str:
    return f"{user_tag(user_id)}:invites"


def user_memberships(user_id: str) -> str:
    return f"{user_tag(user_id)}:ents"


def user_personal_claim(user_id: str) -> str:
    return f"{user_tag(user_id)}:personal"


# The decision log: one hash slot, so a batch's append and the chain head move together.
AUDIT_TAG = f"{PREFIX}:{{audit}}"
AUDIT_LOG = f"{AUDIT_TAG}:log"
AUDIT_HEAD = f"{AUDIT_TAG}:head"
AUDIT_TIME = f"{AUDIT_TAG}:time"


def audit_index(kind: str, value: str) -> str:
    """`kind`: user, ent, res or req."""
    return f"{AUDIT_TAG}:{kind}:{value}"


def audit_decision(decision_id: str) -> str:
    return f"{AUDIT_TAG}:id:{decision_id}"
