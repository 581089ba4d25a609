"""The HTTP edge: ASGI middleware and hooks every request passes through, wired by the
composition root (gateway/app.py) around the controllers."""
