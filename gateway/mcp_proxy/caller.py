"""Who is asking, inside the MCP SDK: the Litestar bearer middleware authenticated the HTTP
request (401 with WWW-Authenticate otherwise) and put the Subject in `scope["user"]`; the
endpoint wraps it in the SDK's `AuthenticatedUser`, so the SDK binds each MCP session to the
user who opened it (another user's session id is a 404) and the handlers read it back."""

from __future__ import annotations

import uuid
from typing import Any

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken

from gateway.domain.ids import REQUEST_ID, matches
from gateway.domain.subjects import Subject


class GatewayUser(AuthenticatedUser):
    def __init__(self, subject: Subject) -> None:
        # No token kept: the session is bound to the subject id, not to one token.
        super().__init__(AccessToken(token="", client_id="gateway", scopes=[], subject=subject.id))
        self.subject = subject


def subject_of(request: Any) -> Subject | None:
    user = getattr(request, "scope", {}).get("user")
    return user.subject if isinstance(user, GatewayUser) else None


def request_id_of(request: Any) -> str:
    """The client's X-Request-Id when well-formed (as on /v1), else a new one."""
    headers = getattr(request, "headers", None)
    given = headers.get("x-request-id") if headers is not None else None
    return given if given and matches(REQUEST_ID, given) else str(uuid.uuid4())
