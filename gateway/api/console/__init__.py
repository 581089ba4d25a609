"""The console's templates, stylesheet and server-rendered SVG charts (the pages themselves:
gateway/api/controllers/console.py). No script runs in it: every page is HTML and SVG built
on the server, every asset is served by the gateway."""

from pathlib import Path

CONSOLE_DIR = Path(__file__).parent
