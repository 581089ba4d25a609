"""An MCP server over stdio in the standard library alone (the 2025 handshake, tools only),
given to the gateway inline: `python3 -c <this text>`. Its `run` tool executes Python inside
the sandbox, for the escape tests."""

import json
import os
import sys


def send(m):
    sys.stdout.write(json.dumps(m) + "\n")
    sys.stdout.flush()


def tool(n, d, p):
    return {
        "name": n,
        "description": d,
        "inputSchema": {"type": "object", "properties": {p: {"type": "string"}}},
    }


T = [
    tool("echo", "Echo text.", "text"),
    tool("env", "One env var.", "name"),
    tool("run", "Run Python; returns `result`.", "code"),
]


def call(n, a):
    if n == "echo":
        return a.get("text", "")
    if n == "env":
        return os.environ.get(a.get("name", ""), "<unset>")
    g = {}
    try:
        exec(a.get("code", ""), g)
        return str(g.get("result"))
    except BaseException as e:
        return f"{type(e).__name__}: {e}"


sys.stderr.write("stdlib server up; token={}\n".format(os.environ.get("SECRET_TOKEN")))
sys.stderr.flush()
for line in sys.stdin:
    m = json.loads(line)
    i = m.get("id")
    meth = m.get("method")
    p = m.get("params") or {}
    if i is None:
        continue
    if meth == "initialize":
        r = {
            "protocolVersion": p.get("protocolVersion"),
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "stdlib", "version": "1"},
        }
    elif meth == "tools/list":
        r = {"tools": T}
    elif meth == "tools/call":
        r = {"content": [{"type": "text", "text": call(p.get("name"), p.get("arguments") or {})}]}
    elif meth == "ping":
        r = {}
    else:
        send({"jsonrpc": "2.0", "id": i, "error": {"code": -32601, "message": "Method not found"}})
        continue
    send({"jsonrpc": "2.0", "id": i, "result": r})
