"""An off-the-shelf SSE client (httpx-sse) reading Buddo's live activity stream.

Usage: sse_client.py URL COUNT, with BUDDO_TOKEN (the bearer token) and, to resume,
LAST_EVENT_ID. Prints each of the first COUNT events as a JSON line ({id, event, data}) as it
arrives, then stops. Comments (keep-alives) carry no entry: skipped.
"""

import json
import os
import sys

import httpx
from httpx_sse import connect_sse


def main() -> int:
    url, count = sys.argv[1], int(sys.argv[2])
    headers = {"authorization": f"Bearer {os.environ['BUDDO_TOKEN']}"}
    if os.environ.get("LAST_EVENT_ID"):
        headers["last-event-id"] = os.environ["LAST_EVENT_ID"]
    seen = 0
    with httpx.Client(timeout=httpx.Timeout(30.0)) as client:
        with connect_sse(client, "GET", url, headers=headers) as source:
            source.response.raise_for_status()
            for sse in source.iter_sse():
                if not sse.data:
                    continue  # the greeting: a `retry` and a comment, no entry
                print(json.dumps({"id": sse.id, "event": sse.event, "data": sse.json()}), flush=True)
                seen += 1
                if seen == count:
                    return 0
    print(f"the stream ended after {seen} of {count} events", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
