"""The credential routes of a server, written once for both kinds: PUT `…/credentials` and
DELETE `…/credentials/{env_var}` under a personal server (its owner, through the merged view)
and under an enterprise server (owners and admins). What differs is the path, the id's
pattern, who may (the summary says; the policy decides) and the service's method.

No `from __future__ import annotations` here: the handlers are built inside a function, and
Litestar reads their annotations as objects (the id type is the function's argument)."""

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from litestar import Controller, delete, put
from litestar.di import NamedDependency
from litestar.params import Body

from gateway.api.openapi.answers import answers
from gateway.api.params import EnvVarParam
from gateway.api.preconditions import IfMatchHeader, refuse_if_match
from gateway.domain.servers import AnyServer
from gateway.domain.subjects import Subject
from gateway.services.credentials import CredentialService, CredentialsPut

Setter = Callable[[CredentialService, Subject, str, CredentialsPut], Awaitable[AnyServer]]
Remover = Callable[[CredentialService, Subject, str, str], Awaitable[None]]


def credential_routes(
    *,
    name: str,
    path: str,
    tags: list[str],
    server_id: Any,
    answer: Any,
    who: str,
    set_values: Setter,
    remove: Remover,
) -> type[Controller]:
    """A controller at `path` (ending in the server id) whose id parameter is `server_id`
    (an Annotated id type) and whose PUT answers `answer` (the server's type)."""

    @put(
        "/credentials",
        summary=f"Store or replace secret env var values ({who})",
        **answers(404, 412, 413, 422),
    )
    async def put_credentials(
        self: Controller,
        subject: NamedDependency[Subject],
        credentials: NamedDependency[CredentialService],
        server_id: server_id,  # type: ignore[valid-type]
        data: Annotated[CredentialsPut, Body(description='{"values": {"ENV_VAR": "secret"}}')],
        if_match_header: IfMatchHeader = None,
    ) -> answer:  # type: ignore[valid-type]
        refuse_if_match(if_match_header)
        return await set_values(credentials, subject, server_id, data)

    @delete(
        "/credentials/{env_var:str}",
        status_code=204,
        summary=f"Remove one secret ({who})",
        **answers(404, 412, 422),
    )
    async def delete_credential(
        self: Controller,
        subject: NamedDependency[Subject],
        credentials: NamedDependency[CredentialService],
        server_id: server_id,  # type: ignore[valid-type]
        env_var: EnvVarParam,
        if_match_header: IfMatchHeader = None,
    ) -> None:
        refuse_if_match(if_match_header)
        await remove(credentials, subject, server_id, env_var)

    namespace = {
        "path": path,
        "tags": tags,
        "put_credentials": put_credentials,
        "delete_credential": delete_credential,
    }
    return type(name, (Controller,), namespace)
