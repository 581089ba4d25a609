"""The connection guard: the proxy connects only to public addresses unless the deployment
allows private ones (GATEWAY_ALLOW_PRIVATE_UPSTREAMS). A server's URL was checked by name
when it was saved (gateway/domain/targets.py); here the address actually connected to is
checked, after resolution, so a public name that resolves to 127.0.0.1 or to cloud metadata
is refused too. The check and the connect use the same resolved address (no second lookup a
rebinding DNS server could answer differently); TLS still verifies the URL's host name."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from typing import Any

import anyio
import httpcore
import httpx

from gateway.domain.targets import PUBLIC, target_kind


class UpstreamRefused(httpcore.ConnectError):
    """The upstream's address is internal and the deployment does not allow it."""


def _kind(address: str) -> str:
    host = f"[{address}]" if ":" in address else address
    return target_kind(f"http://{host}/")


class GuardedBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, *, allow_private: bool) -> None:
        self._allow_private = allow_private
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        with anyio.fail_after(timeout):
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(ipaddress.ip_address(info[4][0])) for info in infos]
        if not addresses:
            raise httpcore.ConnectError(f"{host} does not resolve")
        if not self._allow_private:
            for address in addresses:
                kind = _kind(address)
                if kind != PUBLIC:
                    raise UpstreamRefused(
                        f"{host} resolves to a {kind.replace('_', '-')} address; the gateway "
                        "does not connect to internal addresses unless "
                        "GATEWAY_ALLOW_PRIVATE_UPSTREAMS=true"
                    )
        return await self._inner.connect_tcp(
            addresses[0],
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("the proxy does not connect to unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_client(
    *, allow_private: bool, headers: dict[str, str] | None = None, timeout: httpx.Timeout
) -> httpx.AsyncClient:
    """An httpx client whose every connection goes through the guard; no proxy from the
    environment (a proxy's address is not the upstream's), no redirects followed."""
    transport = httpx.AsyncHTTPTransport(trust_env=False)
    # httpx takes no network backend; its pool does (the pool is what the transport wraps).
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=httpx.create_ssl_context(trust_env=False),
        network_backend=GuardedBackend(allow_private=allow_private),
    )
    return httpx.AsyncClient(
        transport=transport, headers=headers, timeout=timeout, follow_redirects=False
    )
