"""Request bodies decoded strictly, straight into the handler's body type.

Litestar would decode the JSON to plain values and then convert them leniently (`0` becomes
`false`, `"1"` becomes `1`). Here the bytes go to msgspec with the target type, strict, so a
number is not a boolean and a string not a number, and the error names the field. Query and
path parameters keep Litestar's conversions, which HTTP needs (`?limit=10`).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request

from gateway.domain.servers import READ_ONLY_FIELDS
from gateway.domain.validation import field_error
from gateway.errors import InvalidInput


def body_error(exc: msgspec.ValidationError) -> InvalidInput:
    field, message = field_error(exc)
    if message == "unknown field":
        message = "is read-only" if field in READ_ONLY_FIELDS else "is not a known field"
    name = field or "body"
    return InvalidInput(f"invalid {name}: {message}", fields={name: message})


class GatewayRequest(Request[Any, Any, Any]):
    async def json(self) -> Any:
        field = self.route_handler.parsed_data_field
        if field is None:
            return await super().json()
        raw = await self.body()
        try:
            return msgspec.json.decode(raw or b"null", type=field.annotation)
        except msgspec.ValidationError as exc:
            raise body_error(exc) from None
        except msgspec.DecodeError as exc:
            raise InvalidInput.field("body", f"not valid JSON: {exc}") from None
        except RecursionError:
            # msgspec stops at the interpreter's recursion limit (1000): no body of this API
            # nests beyond a handful of levels.
            raise InvalidInput.field("body", "JSON nested too deeply") from None
