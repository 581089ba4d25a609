# The per-machine tool cache, shared by scripts/opa and scripts/mcp-sdk-ts (sourced, not run).
# Tools built or downloaded for the tests live outside the clone, so a fresh clone on a machine
# that built them once reuses them:
#   ${MCP_POLICY_GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-policy-gateway}/
#     opa-v1.22.3/opa   regal-<hash of tools/regal/go.*>/regal   mcp-sdk-ts-1.32.2/node_modules
#     go/{build,mod}    Go's build and module caches (both safe for concurrent use)
# Each tool directory appears by one rename, once complete, under a lock: a build that dies
# leaves no half-written tool, and two first builds at once make one tool, not a corrupt one.
# Deleting the whole folder is always safe (the Go module cache is written user-writable).

TOOL_CACHE=${MCP_POLICY_GATEWAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mcp-policy-gateway}

# cached_tool NAME BUILDER: the directory $TOOL_CACHE/NAME, made by `BUILDER DIR` (which fills
# the empty DIR) when it is not there yet; prints its path. The builder's output goes to stderr.
cached_tool() {
  local name=$1 builder=$2 final="$TOOL_CACHE/$1" tmp lock_fd status
  if [ -d "$final" ]; then echo "$final"; return 0; fi
  # Called where `set -e` is off (in `$(…) || …`): every step that can fail is checked.
  mkdir -p "$TOOL_CACHE" || return
  exec {lock_fd}>"$TOOL_CACHE/.$name.lock" || return
  command -v flock >/dev/null && flock "$lock_fd"  # another process's build: wait for it
  if [ ! -d "$final" ]; then
    tmp=$(mktemp -d "$TOOL_CACHE/.$name.partial.XXXXXX") || { exec {lock_fd}>&-; return 1; }
    status=0
    "$builder" "$tmp" >&2 || status=$?
    if [ "$status" -ne 0 ]; then
      rm -rf "$tmp"; exec {lock_fd}>&-; return "$status"
    fi
    # Without flock two builds can race: the second rename fails and its copy is dropped.
    chmod 755 "$tmp"
    mv -T "$tmp" "$final" 2>/dev/null || rm -rf "$tmp"
  fi
  exec {lock_fd}>&-
  [ -d "$final" ] || return 1
  echo "$final"
}
