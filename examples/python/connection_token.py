#!/usr/bin/env python3
"""Mint Hubcast connection tokens (HS256 JWTs) with Python's standard library alone.

As a module:

    from connection_token import connection_token
    token = connection_token(secret, "alice", ttl_seconds=3600, info={"name": "Alice"})

From a shell (HUBCAST_TOKEN_HMAC_SECRET in the environment; prints the token):

    python3 connection_token.py alice [ttl seconds]

The node verifies the token with its `tokenHmacSecret`: header
{"alg": "HS256", "typ": "hubcast-connection+jwt"}, claims `sub` (the user id) and `exp`
(seconds since the Unix epoch) required; `info`, `channels`, `aud`, `iss` optional
(see docs/security.md).
"""

import base64
import hashlib
import hmac
import json
import os
import sys
import time


def _b64url(data):
    """base64url without padding (RFC 7515)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _part(value):
    return _b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def connection_token(secret, user, ttl_seconds=3600, info=None, channels=None):
    """A connection token for `user`, valid for `ttl_seconds`.

    `info`: JSON shown to others in presence, join/leave and publications; `channels`: the
    channels (or prefixes ending in `*`) the user may subscribe to in `subscribe: "listed"`
    namespaces.
    """
    if not user:
        raise ValueError("user must be a non-empty string")
    now = int(time.time())
    claims = {"sub": user, "iat": now, "exp": now + ttl_seconds}
    if info is not None:
        claims["info"] = info
    if channels is not None:
        claims["channels"] = list(channels)
    signing_input = _part({"alg": "HS256", "typ": "hubcast-connection+jwt"}) + "." + _part(claims)
    signature = hmac.new(secret.encode("utf-8"), signing_input.encode("ascii"), hashlib.sha256).digest()
    return signing_input + "." + _b64url(signature)


def main(argv):
    secret = os.environ.get("HUBCAST_TOKEN_HMAC_SECRET")
    if not secret:
        print("set HUBCAST_TOKEN_HMAC_SECRET to the node's tokenHmacSecret", file=sys.stderr)
        return 2
    if len(argv) not in (1, 2) or not argv[0]:
        print("usage: connection_token.py <user id> [ttl seconds, default 3600]", file=sys.stderr)
        return 2
    print(connection_token(secret, argv[0], ttl_seconds=int(argv[1]) if len(argv) == 2 else 3600))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
