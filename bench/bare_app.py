"""The floor under the gateway's numbers: a bare Litestar app on the same uvicorn settings,
one GET route answering fixed bytes (the merged view the harness captured from the gateway,
with the gateway's content type). No auth, no policy, no Redis: what Litestar + uvicorn cost.

With `--etag TAG` (the floor under a 304): every answer carries `ETag: TAG`, and a request
whose `If-None-Match` is exactly TAG gets `304 Not Modified` with no body, as the gateway
answers a client holding the current tag (gateway/api/preconditions.py `conditional`).

Started by the harness (bench/harness/scenarios/bare.py) as its own process:
`python -m bench.bare_app --port P --body FILE --content-type TYPE [--path /v1/mcp-servers]
[--etag TAG] [--gateway-http]`. With `--gateway-http` (row `bare_gateway_http`) it runs on
uvicorn as `gateway serve` sets it up (gateway/cli/serve.py: its HTTP protocol, no server
header): the floor of the gateway's own HTTP, where `bare` is plain uvicorn's.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from litestar import Litestar, Request, Response, get


def create_bare_app(body: bytes, content_type: str, path: str, etag: str | None = None) -> Litestar:
    if etag is None:

        @get(path, sync_to_thread=False)
        def merged_view() -> Response[bytes]:
            return Response(content=body, media_type=content_type)

    else:
        tagged = {"ETag": etag}

        @get(path, sync_to_thread=False)
        def merged_view(request: Request) -> Response[bytes]:  # type: ignore[type-arg]
            if request.headers.get("if-none-match") == etag:
                return Response(content=b"", status_code=304, headers=tagged)
            return Response(content=body, media_type=content_type, headers=tagged)

    return Litestar(route_handlers=[merged_view], openapi_config=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--body", type=Path, required=True, help="file with the response bytes")
    parser.add_argument("--content-type", default="application/json")
    parser.add_argument("--path", default="/v1/mcp-servers")
    parser.add_argument(
        "--etag", help="send this ETag; If-None-Match equal to it gets a 304 with no body"
    )
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--gateway-http",
        action="store_true",
        help="uvicorn as `gateway serve` sets it up: its HTTP protocol (the header deadline, "
        "an answer's writes in one system call) and no server header",
    )
    args = parser.parse_args()

    import uvicorn

    app = create_bare_app(args.body.read_bytes(), args.content_type, args.path, args.etag)
    # The gateway's `gateway serve` call: uvicorn.run(app, host, port, log_level, access_log=False)
    # with uvicorn's defaults otherwise (uvloop and httptools when installed).
    options: dict[str, object] = {}
    if args.gateway_http:
        from gateway.api.edge.http_protocol import GatewayHTTPProtocol

        options = {"http": GatewayHTTPProtocol, "server_header": False}
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        access_log=False,
        **options,  # type: ignore[arg-type]
    )


if __name__ == "__main__":
    main()
