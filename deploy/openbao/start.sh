#!/bin/sh
# compose.yaml's OpenBao entrypoint: start the server on Raft storage, initialize it once,
# unseal it on every start, and (once) set up what the gateway needs: KV v2 at secret/, a
# `gateway` policy on it, and AppRole; on every start, make the role and secret ids the
# operator chose (GATEWAY_VAULT_ROLE_ID, GATEWAY_VAULT_SECRET_ID, the values the gateway logs
# in with) the ones that log in.
#
# DEMO COMPROMISE: the single unseal key and the root token are kept in the openbao-keys
# volume, beside the data they protect, so the stack unseals itself after a restart. Anyone
# who can read that volume can read every secret. In production unseal by hand, with Shamir
# shares held by people, or auto-unseal (a KMS seal), and revoke the root token
# (docs/deployment.md, "OpenBao").
# POSIX sh: it runs on the upstream image's busybox and on CI's Debian image.
set -eu
export BAO_ADDR=http://127.0.0.1:8200
KEYS=/openbao/keys/init.txt
CONFIGURED=/openbao/keys/configured

bao server -config=/openbao/gateway/openbao.hcl &
server=$!
trap 'kill -TERM "$server"; wait "$server"; exit 0' TERM INT

# `bao status`: 0 unsealed, 2 sealed, 1 no answer.
tries=0
while :; do
  status=0
  bao status >/dev/null 2>&1 || status=$?
  [ "$status" -ne 1 ] && break
  tries=$((tries + 1))
  if [ "$tries" -ge 120 ] || ! kill -0 "$server" 2>/dev/null; then
    echo "openbao: the server exited, or did not answer within 60 s" >&2
    exit 1
  fi
  sleep 0.5
done

initialized=0
bao operator init -status >/dev/null 2>&1 || initialized=$?
if [ "$initialized" -eq 2 ]; then
  echo "openbao: initializing (one unseal key, kept in $KEYS)"
  (umask 077 && bao operator init -key-shares=1 -key-threshold=1 >"$KEYS.partial")
  mv "$KEYS.partial" "$KEYS"
elif [ "$initialized" -ne 0 ]; then
  echo "openbao: cannot tell whether the server is initialized" >&2
  exit 1
fi

if [ "$status" -eq 2 ]; then
  bao operator unseal "$(sed -n 's/^Unseal Key 1: //p' "$KEYS")" >/dev/null
  echo "openbao: unsealed"
fi

: "${GATEWAY_VAULT_ROLE_ID:?set the AppRole role id the gateway logs in with}"
: "${GATEWAY_VAULT_SECRET_ID:?set the AppRole secret id the gateway logs in with}"
BAO_TOKEN=$(sed -n 's/^Initial Root Token: //p' "$KEYS")
export BAO_TOKEN
if [ ! -f "$CONFIGURED" ]; then
  # Each step can be repeated: a start that died half-way finishes the set-up next time.
  bao secrets list | grep -q '^secret/' || bao secrets enable -path=secret -version=2 kv
  bao auth list | grep -q '^approle/' || bao auth enable approle
  bao policy write gateway - <<'POLICY'
path "secret/data/*" { capabilities = ["create", "read", "update", "delete"] }
path "secret/metadata/*" { capabilities = ["read", "delete", "list"] }
POLICY
  bao write auth/approle/role/gateway token_policies=gateway token_ttl=1h token_max_ttl=24h \
    secret_id_ttl=0 >/dev/null
  touch "$CONFIGURED"
  echo "openbao: KV v2 at secret/, AppRole role gateway set up"
fi
# On every start, the ids in the environment are the ones that log in: an operator who
# changes them restarts the stack and the new pair works (the old secret id stays valid
# until destroyed: `bao write auth/approle/role/gateway/secret-id/destroy secret_id=…`).
bao write auth/approle/role/gateway/role-id role_id="$GATEWAY_VAULT_ROLE_ID" >/dev/null
if ! bao write auth/approle/login role_id="$GATEWAY_VAULT_ROLE_ID" \
    secret_id="$GATEWAY_VAULT_SECRET_ID" >/dev/null 2>&1; then
  bao write auth/approle/role/gateway/custom-secret-id secret_id="$GATEWAY_VAULT_SECRET_ID" \
    >/dev/null
  echo "openbao: AppRole secret id registered"
fi
unset BAO_TOKEN

wait "$server"
