"""`ToolPinStore` over Redis: one hash per server (`gw:pins:{<server_id>}`, tool name ->
msgspec JSON). The pins a list or a call needs, of every server, are one pipelined HMGET;
first sight is HSETNX and HMGET in one round trip; a change or an approval a compare-and-set
on the bytes read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import msgspec

from gateway.domain.tool_pins import ToolPin
from gateway.stores.redis import keys as k
from gateway.stores.redis.client import RedisClient, text, translate_errors

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(ToolPin).decode

# KEYS: the server's pins. ARGV: tool, expected value, new value. 1 if replaced, 0 if moved.
_REPLACE = """
if redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


class RedisToolPinStore:
    def __init__(self, client: RedisClient) -> None:
        self._redis = client
        self._replace = client.register_script(_REPLACE)

    @translate_errors
    async def read(self, tools: Mapping[str, Sequence[str]]) -> dict[str, dict[str, ToolPin]]:
        asked = [(sid, list(names)) for sid, names in tools.items() if names]
        found: dict[str, dict[str, ToolPin]] = {sid: {} for sid in tools}
        if not asked:
            return found
        async with self._redis.pipeline(transaction=False) as pipe:
            for server_id, names in asked:
                pipe.hmget(k.tool_pins(server_id), names)
            values = await pipe.execute()
        for (server_id, names), pins in zip(asked, values, strict=True):
            found[server_id] = {
                name: _decode(value)
                for name, value in zip(names, pins, strict=True)
                if value is not None
            }
        return found

    @translate_errors
    async def all(self, server_id: str) -> dict[str, ToolPin]:
        pins = await self._redis.hgetall(k.tool_pins(server_id))
        return {text(name): _decode(value) for name, value in pins.items()}

    @translate_errors
    async def pin_new(self, server_id: str, pins: Sequence[ToolPin]) -> dict[str, ToolPin]:
        if not pins:
            return {}
        key = k.tool_pins(server_id)
        async with self._redis.pipeline(transaction=False) as pipe:
            for pin in pins:
                pipe.hsetnx(key, pin.tool, _encode(pin))
            pipe.hmget(key, [pin.tool for pin in pins])
            *_, stored = await pipe.execute()
        return {pin.tool: _decode(value) for pin, value in zip(pins, stored, strict=True)}

    @translate_errors
    async def replace(self, server_id: str, expected: ToolPin, new: ToolPin) -> bool:
        replaced = await self._replace(
            keys=[k.tool_pins(server_id)], args=[expected.tool, _encode(expected), _encode(new)]
        )
        return bool(int(replaced))
