#!/usr/bin/env python3
"""Publish and read history through Hubcast's server API with Python's standard library alone.

As a module:

    from hubcast_api import HubcastApi, HubcastApiError
    api = HubcastApi("http://localhost:8080", os.environ["HUBCAST_API_KEY"])
    api.publish("demo:lobby", {"text": "deploy finished"})   # {"position": {...}} or {}
    api.history("demo:lobby", limit=10)                       # {"publications": [...], ...}

From a shell (HUBCAST_URL and HUBCAST_API_KEY in the environment; prints the answer's JSON):

    python3 hubcast_api.py publish demo:lobby '{"text": "hi"}'
    python3 hubcast_api.py history demo:lobby [limit]

Failures raise HubcastApiError with the HTTP status and the error body's code and message
({"error": {"code", "message"}}; the codes are listed in docs/api.md). From a shell the
error goes to stderr and the exit status is 1.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


class HubcastApiError(Exception):
    """A request the node refused or could not serve.

    `status` is the HTTP status, `code` the catalogue code (programs branch on it, e.g.
    retry on "outcome_unknown" with the same idempotency key), `message` says what to fix.
    """

    def __init__(self, status, code, message):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class HubcastApi:
    """A client for one node's server API; every node answers for the whole cluster."""

    def __init__(self, url, api_key, timeout_seconds=10):
        self.url = url.rstrip("/")
        self.api_key = api_key
        self.timeout_seconds = timeout_seconds

    def publish(self, channel, data, idempotency_key=None):
        """Publishes `data` (any JSON-serialisable value) to `channel`.

        Returns {"position": {"offset", "epoch"}} when the channel keeps history, else {}.
        With an `idempotency_key`, a retry of the same publication is never published twice.
        """
        body = {"channel": channel, "data": data}
        if idempotency_key is not None:
            body["idempotencyKey"] = idempotency_key
        return self._request("POST", "/api/publish", body=body)

    def history(self, channel, limit=None, reverse=False):
        """Returns {"publications": [...], "epoch", "offset"}: oldest first unless `reverse`."""
        query = {"channel": channel, "reverse": "true" if reverse else "false"}
        if limit is not None:
            query["limit"] = str(limit)
        return self._request("GET", "/api/history", query=query)

    def _request(self, method, path, body=None, query=None):
        url = self.url + path
        if query is not None:
            url += "?" + urllib.parse.urlencode(query)
        headers = {"Authorization": f"Bearer {self.api_key}"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode("utf-8")
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                return json.load(response)
        except urllib.error.HTTPError as err:
            raise _api_error(err) from None


def _api_error(err):
    """The HubcastApiError of an HTTP error answer, read from {"error": {"code", "message"}}."""
    text = err.read().decode("utf-8", "replace")
    try:
        detail = json.loads(text)["error"]
        return HubcastApiError(err.code, detail["code"], detail["message"])
    except (ValueError, KeyError, TypeError):
        # Not the node's answer (a proxy's error page, say): keep what came.
        return HubcastApiError(err.code, "http_error", text[:200] or err.reason)


def main(argv):
    usage = "usage: hubcast_api.py publish <channel> <json data> | history <channel> [limit]"
    url = os.environ.get("HUBCAST_URL")
    key = os.environ.get("HUBCAST_API_KEY")
    if not url or not key:
        print("set HUBCAST_URL (e.g. http://localhost:8080) and HUBCAST_API_KEY", file=sys.stderr)
        return 2
    api = HubcastApi(url, key)
    try:
        if len(argv) == 3 and argv[0] == "publish":
            answer = api.publish(argv[1], json.loads(argv[2]))
        elif len(argv) in (2, 3) and argv[0] == "history":
            answer = api.history(argv[1], limit=int(argv[2]) if len(argv) == 3 else 10, reverse=True)
        else:
            print(usage, file=sys.stderr)
            return 2
    except HubcastApiError as err:
        print(f"hubcast: {err.status} {err.code}: {err.message}", file=sys.stderr)
        return 1
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
