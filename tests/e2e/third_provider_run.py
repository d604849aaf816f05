"""Run inside a copy of the repository that has the fixture's third provider (see test_third_provider):
one dispute through the provider's queue and one through the HTTP API, over moto and every
provider's sandbox, found and wired as `make demo` does. Prints what happened as JSON.
"""

from __future__ import annotations

import contextlib
import json
import sys
import warnings
from typing import Any

from local.providers import start_sandboxes, wiring
from local.runtime.http_server import HttpApiClient
from local.stack import LocalStack, wait_for

PROVIDER = sys.argv[1] if len(sys.argv) > 1 else "acme"


def main() -> None:
    warnings.filterwarnings("ignore", "No application metrics to publish")
    with contextlib.ExitStack() as resources:
        sandboxes = start_sandboxes(resources)
        stack = resources.enter_context(
            LocalStack(
                providers=[wiring(sandbox) for sandbox in sandboxes.values()],
                http_port=0,
                batching_window_override=0,
            )
        )
        queue = stack.provider_queue(PROVIDER)
        stack.send_message(queue, json.dumps({"order_id": "O-QUEUE", "reason": "charged twice"}))
        api = HttpApiClient(stack.api_url)
        filed = api.call("POST", "/disputes", {"provider": PROVIDER, "order_id": "O-API", "reason": "never arrived"})
        dispute_id = filed.body["dispute_id"] if isinstance(filed.body, dict) else None

        def settled() -> dict[str, Any] | None:
            by_api = api.call("GET", f"/disputes/{dispute_id}").body
            listed = api.call("GET", "/disputes", query={"reference": "O-QUEUE"}).body
            queued = (listed or {}).get("items", [])
            if by_api.get("status") == "submitted" and queued and queued[0].get("status") == "submitted":
                return {"api": by_api, "queue": queued[0]}
            return None

        records = wait_for(settled, 30)
        sandbox = sandboxes[PROVIDER]
        print(
            json.dumps(
                {
                    "queue": queue,
                    "filed_status": filed.status,
                    "records": records,
                    "provider_disputes": sorted(sandbox.disputes),
                }
            )
        )


if __name__ == "__main__":
    main()
