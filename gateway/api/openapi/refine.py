"""The document Litestar builds, corrected where it says less than the gateway enforces.

- Request bodies: Litestar's schema of a msgspec Struct drops `forbid_unknown_fields`, the
  constraints inside containers (each `env` name's pattern, each `args` item's length, the
  keys and values of `headers` and of the credential `values`) and the dict limits. The
  body components are replaced by `msgspec.json.schema()` of the very Struct the gateway
  decodes with, plus the rules between fields a Struct states in `SCHEMA_RULES`.
- A union of tagged Structs (a personal or an enterprise server) gets its `discriminator`,
  so a generated client picks the type by `source` instead of trying each in turn.
- A parameter is absent or has a value: `null` is not one of its values (Litestar writes an
  optional parameter as `oneOf: [string, null]`, and a generated request sends the text
  "null").
- An optional enum (`role: owner|admin|member|null`) is written as a `oneOf` of the enum and
  null: one type in a generated client instead of three.
- Examples on the main operations (gateway/api/openapi_examples.py).

Applied to the dictionary every render plugin serves (JSON, YAML and the UIs), once per app,
when the document is first asked for: building it costs ~35 ms, which no app start pays.
docs/adr/0048-openapi-contract.md."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import msgspec
from litestar import Litestar, Request
from litestar.openapi.plugins import (
    JsonRenderPlugin,
    OpenAPIRenderPlugin,
    RapidocRenderPlugin,
    RedocRenderPlugin,
    StoplightRenderPlugin,
    SwaggerRenderPlugin,
    YamlRenderPlugin,
)
from litestar.routes import HTTPRoute

from gateway.api.openapi.examples import add_examples

REF = "#/components/schemas/{name}"
_STATE_KEY = "openapi_refined"  # the app's own cache: no module state shared by apps


def refined(app: Litestar, document: dict[str, Any]) -> dict[str, Any]:
    if _STATE_KEY not in app.state:
        app.state[_STATE_KEY] = refine(app, document)
    cached: dict[str, Any] = app.state[_STATE_KEY]
    return cached


def refine(app: Litestar, document: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(document)
    schemas: dict[str, Any] = doc["components"]["schemas"]
    for path, method, struct in _request_bodies(app):
        body = doc["paths"][path][method]["requestBody"]["content"]["application/json"]
        name = _component(body["schema"])
        generated = msgspec.json.schema(struct, ref_template=REF)
        defs: dict[str, Any] = generated.get("$defs", {})
        own = defs.pop(_component(generated))
        rules = getattr(struct, "SCHEMA_RULES", ())
        if rules:
            own["allOf"] = list(rules)
        if description := schemas.get(name, {}).get("description"):
            own["description"] = description  # the route's Body(description=...)
        schemas[name] = own
        for other, schema in defs.items():  # a Struct nested in a body (none today)
            if schemas.setdefault(other, schema) != schema:
                raise ValueError(f"component {other} is both a body's part and something else")
    for item in doc["paths"].values():
        for operation in item.values():
            for parameter in operation.get("parameters", ()) if isinstance(operation, dict) else ():
                _not_null(parameter.get("schema", {}))
            for response in (operation.get("responses") or {}).values():
                for header in (response.get("headers") or {}).values():
                    # A header object needs a schema (Litestar's ResponseHeader has none).
                    header.setdefault("schema", {"type": "string"})
    _walk(doc, schemas)
    add_examples(doc)
    return doc


def _not_null(schema: dict[str, Any]) -> None:
    choices = [c for c in schema.get("oneOf", ()) if c != {"type": "null"}]
    if len(choices) == 1 and "oneOf" in schema:
        del schema["oneOf"]
        schema.update(choices[0])


def _request_bodies(app: Litestar) -> list[tuple[str, str, type[msgspec.Struct]]]:
    found: list[tuple[str, str, type[msgspec.Struct]]] = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            data = handler.parsed_fn_signature.parameters.get("data")
            if data is None or not handler.resolve_include_in_schema():
                continue
            struct = data.annotation
            if not (isinstance(struct, type) and issubclass(struct, msgspec.Struct)):
                # Every body is a Struct: another type would be documented by Litestar alone.
                raise TypeError(f"{route.path_format}: body {struct!r} is not a msgspec Struct")
            found.extend((route.path_format, m.lower(), struct) for m in handler.http_methods)
    return found


def _component(schema: dict[str, Any]) -> str:
    ref = schema.get("$ref") or schema["allOf"][0]["$ref"]
    return str(ref).rsplit("/", 1)[1]


def _walk(node: Any, schemas: dict[str, Any]) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item, schemas)
        return
    if not isinstance(node, dict):
        return
    if (
        "oneOf" in node
        and "discriminator" not in node
        and (tag := _common_tag(node["oneOf"], schemas))
    ):
        node["discriminator"] = tag
    kinds = node.get("type")
    if isinstance(kinds, list) and "null" in kinds and None in node.get("enum", ()):
        (kind,) = [k for k in kinds if k != "null"]
        values = [v for v in node.pop("enum") if v is not None]
        del node["type"]
        node["oneOf"] = [{"type": kind, "enum": values}, {"type": "null"}]
    for value in node.values():
        _walk(value, schemas)


def _common_tag(choices: Sequence[Any], schemas: dict[str, Any]) -> dict[str, Any] | None:
    """A discriminator when every choice is a component with a `const` in the same field."""
    refs = [c.get("$ref", "") if isinstance(c, dict) else "" for c in choices]
    if len(refs) < 2 or not all(r.startswith(REF.format(name="")) for r in refs):
        return None
    consts = [_consts(schemas.get(r.rsplit("/", 1)[1], {})) for r in refs]
    for field in set.intersection(*(set(c) for c in consts)):
        values = [c[field] for c in consts]
        if len(set(values)) == len(values):
            return {"propertyName": field, "mapping": dict(zip(values, refs, strict=True))}
    return None


def _consts(schema: dict[str, Any]) -> dict[str, Any]:
    props = schema.get("properties", {})
    return {name: p["const"] for name, p in props.items() if isinstance(p, dict) and "const" in p}


class _Refined(OpenAPIRenderPlugin):
    """Serves the refined document; mixed in before a Litestar render plugin."""

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, refined(request.app, openapi_schema))  # type: ignore[safe-super]


class _Json(_Refined, JsonRenderPlugin):
    pass


class _Yaml(_Refined, YamlRenderPlugin):
    pass


class _Redoc(_Refined, RedocRenderPlugin):
    pass


class _Swagger(_Refined, SwaggerRenderPlugin):
    pass


class _Elements(_Refined, StoplightRenderPlugin):
    pass


class _Rapidoc(_Refined, RapidocRenderPlugin):
    pass


def render_plugins() -> list[OpenAPIRenderPlugin]:
    """The pages Litestar serves by default under /schema, on the refined document; Redoc is
    the root page, as it was."""
    return [
        _Redoc(path=["/", "/redoc"]),
        _Json(),
        _Yaml(),
        _Swagger(),
        _Elements(),
        _Rapidoc(),
    ]
