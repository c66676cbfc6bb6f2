#!/bin/sh
# Publishes a JSON value to a channel through the server API (POST /api/publish) and prints
# the node's answer: {"position": {...}} when the channel keeps history, {} otherwise.
#
#   HUBCAST_URL=http://localhost:8080 HUBCAST_API_KEY=... ./publish.sh demo:lobby '{"text": "hi"}'
#
# Exits 0 on success. On an HTTP error it prints the error body, {"error": {"code", "message"}},
# and exits 22 (curl's --fail-with-body): branch on error.code, show error.message to people.
set -eu
if [ "$#" -ne 2 ]; then
  echo "usage: $0 <channel> <json data>" >&2
  exit 2
fi
: "${HUBCAST_URL:?set HUBCAST_URL to the node, e.g. http://localhost:8080}"
: "${HUBCAST_API_KEY:?set HUBCAST_API_KEY to the node's API key}"

# The channel goes into a JSON string: escape backslashes and quotes. The data is sent as given,
# so it must be JSON already ("hi" with its quotes for a string).
channel=$(printf '%s' "$1" | sed 's/[\\"]/\\&/g')

curl -sS --fail-with-body "$HUBCAST_URL/api/publish" \
  -H "Authorization: Bearer $HUBCAST_API_KEY" -H "Content-Type: application/json" \
  --data-binary @- <<JSON
{"channel": "$channel", "data": $2}
JSON
echo
