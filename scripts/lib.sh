# Shared by scripts/serve and scripts/test: a venv in .venv with the project installed.
# Works on a fresh Debian/Ubuntu machine with Python 3.11+ (installs python3-venv and
# redis-server with apt when they are missing).

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root (or sudo) to run: $*" >&2; return 1; fi
}

apt_install() {
  echo "installing $* with apt-get" >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

find_python() {
  for py in python3 python3.13 python3.12 python3.11; do
    if command -v "$py" >/dev/null &&
       "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      echo "$py"; return 0
    fi
  done
  echo "Python 3.11 or newer is required" >&2
  return 1
}

# ensure_venv EXTRAS: create .venv if needed and install the project (with EXTRAS, e.g. "[test]").
ensure_venv() {
  local extras="$1" py
  if [ ! -x .venv/bin/python ]; then
    py=$(find_python)
    if ! "$py" -m venv .venv 2>/dev/null; then
      rm -rf .venv
      apt_install "$("$py" -c 'import sys; print(f"python3.{sys.version_info[1]}-venv")')" ||
        apt_install python3-venv
      "$py" -m venv .venv
    fi
  fi
  local stamp=".venv/.installed${extras}"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e ".${extras}"
    touch "$stamp"
  fi
}

ensure_redis_server() {
  command -v redis-server >/dev/null || apt_install redis-server
}

# The console's browser tests (tests/console) drive Debian's chromium with Playwright.
ensure_chromium() {
  command -v chromium >/dev/null || apt_install chromium
}

ensure_wrk() {
  command -v wrk >/dev/null || apt_install wrk
}

# Hosted stdio servers run in bubblewrap sandboxes (docs/stdio-hosting.md); setpriv is
# util-linux's, on every Debian.
ensure_bubblewrap() {
  command -v bwrap >/dev/null || apt_install bubblewrap
}

# The MCP proxy's replica tests put a throwaway HAProxy in front of two gateways.
ensure_haproxy() {
  command -v haproxy >/dev/null || apt_install haproxy
}
