#!/bin/sh
# Mints a connection token for a user: an HS256 JWT signed with the node's tokenHmacSecret,
# which a client sends in `connect` (the browser SDK's `token` option). Prints the token.
#
#   HUBCAST_TOKEN_HMAC_SECRET=... ./connection-token.sh alice [ttl seconds, default 3600]
#
# Header {"alg": "HS256", "typ": "hubcast-connection+jwt"}; claims `sub` (the user id) and
# `exp` (seconds since the Unix epoch); see docs/security.md for the optional ones (`info`,
# `channels`, `aud`, `iss`). openssl takes the secret as an argument, so it shows in the
# process list while it runs: on a shared machine, prefer the Python example.
set -eu
if [ "$#" -lt 1 ] || [ "$#" -gt 2 ] || [ -z "$1" ]; then
  echo "usage: $0 <user id> [ttl seconds, default 3600]" >&2
  exit 2
fi
: "${HUBCAST_TOKEN_HMAC_SECRET:?set HUBCAST_TOKEN_HMAC_SECRET to the node's tokenHmacSecret}"

# base64url without padding (RFC 7515), from stdin.
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

user=$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')
now=$(date +%s)
exp=$((now + ${2:-3600}))

header=$(printf '%s' '{"alg":"HS256","typ":"hubcast-connection+jwt"}' | b64url)
claims=$(printf '{"sub":"%s","iat":%d,"exp":%d}' "$user" "$now" "$exp" | b64url)
signature=$(printf '%s' "$header.$claims" |
  openssl dgst -sha256 -hmac "$HUBCAST_TOKEN_HMAC_SECRET" -binary | b64url)
printf '%s.%s.%s\n' "$header" "$claims" "$signature"
