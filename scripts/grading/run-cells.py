"""Runs a list of cells in one fresh course kernel and prints what each did, as JSON.

Used by reference-state.mjs (npm run assignments) to run the TA's reference notebook in a clean
kernel, with the grader's own kernel driver (session.py's Kernel):

    run-cells.py <spec.json>    spec: {"cells": [source], "cwd", "kernel": {"name", "dirs"},
                                       "timeout": seconds for all cells, "log": kernel log path}

Prints {"cells": [{"status", "message", "seconds"}]}; it stops at the first cell that fails.
"""

import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from session import Kernel  # noqa: E402


async def run(spec):
    kernel = Kernel("reference", spec["kernel"]["name"], spec["kernel"]["dirs"], spec["cwd"])
    out = []
    deadline = time.monotonic() + spec["timeout"]
    try:
        await kernel.start(timeout=min(spec["timeout"], 120), log_path=spec["log"])
        for source in spec["cells"]:
            r = await kernel.run(source, max(1, deadline - time.monotonic()))
            out.append(
                {
                    "status": r["status"],
                    "message": (r.get("message") or "")[:4000],
                    "seconds": round(r.get("seconds", 0), 3),
                }
            )
            if r["status"] not in ("ok", "stderr"):
                break
    finally:
        await kernel.stop()
    return {"cells": out}


def main():
    if len(sys.argv) != 2:
        print("usage: run-cells.py <spec.json>", file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        spec = json.load(f)
    result = asyncio.run(run(spec))
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
