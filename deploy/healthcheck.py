"""Container health check: exit 0 if this container's Daphne answers /healthz with 200.

Used by deploy/Dockerfile's HEALTHCHECK. It sends the first ALLOWED_HOSTS name as Host, since
Django refuses any other (a bare 127.0.0.1 would get 400), and nothing else is needed: /healthz is
exempt from the HTTPS redirect and from login.
"""

from __future__ import annotations

import os
import sys
import urllib.request

# The port deploy/Dockerfile's ENTRYPOINT binds.
PORT = 8000


def host_header() -> str:
    first = os.environ.get("ALLOWED_HOSTS", "localhost").split(",")[0].strip()
    # ".example.com" and "*" are patterns, not names: pick a name they match.
    if first in {"", "*"}:
        return "localhost"
    return first.lstrip(".")


def main() -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/healthz", headers={"Host": host_header()}
    )
    try:
        with urllib.request.urlopen(request, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"healthz failed: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
