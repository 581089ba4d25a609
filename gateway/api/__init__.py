"""The HTTP API on Litestar: controllers/ (one module per resource), edge/ (the ASGI
middleware and hooks around every request), openapi/ (what the document says), and at this
level what the controllers share (deps, requests, params, pages, errors, idempotency,
preconditions). tests/unit/test_import_graph.py holds which part may import which."""
