#!/bin/sh
# Prints a channel's newest publications, newest first, through the server API
# (GET /api/history): {"publications": [{"offset", "data", "info"?}...], "epoch", "offset"}.
#
#   HUBCAST_URL=http://localhost:8080 HUBCAST_API_KEY=... ./history.sh demo:lobby [limit]
#
# Exits 0 on success; on an HTTP error prints {"error": {"code", "message"}} and exits 22.
set -eu
if [ "$#" -lt 1 ] || [ "$#" -gt 2 ]; then
  echo "usage: $0 <channel> [limit, default 10]" >&2
  exit 2
fi
: "${HUBCAST_URL:?set HUBCAST_URL to the node, e.g. http://localhost:8080}"
: "${HUBCAST_API_KEY:?set HUBCAST_API_KEY to the node's API key}"

curl -sS --fail-with-body -G "$HUBCAST_URL/api/history" \
  -H "Authorization: Bearer $HUBCAST_API_KEY" \
  --data-urlencode "channel=$1" --data-urlencode "limit=${2:-10}" -d reverse=true
echo
