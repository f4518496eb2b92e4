"""Strict headless execution of one course notebook through Jupyter's own client (nbclient).

Driven by scripts/notebooks.mjs (`buildNotebook`); not meant to be run by hand, but it can be:

    /usr/bin/python3 scripts/run_notebook.py --notebook notebooks/00-welcome.ipynb \
        --executed build/00-welcome.ipynb --html build/00-welcome.html --result /tmp/r.json

Runs every code cell top to bottom with the course's kernel (the `flow-matching` kernelspec; the
launcher moves to the course root) and stops at the first problem:
  - a cell whose execute_reply status is "error" (tslab reports failures only this way and on stderr),
  - any output on stderr (a warning printed by the library is a bug in a notebook too),
  - an unhandled promise rejection or uncaught exception (the course kernel fails the cell for it),
  - the same raised by code still running in the background after the last cell (an unsaved probe cell
    runs last and gives it 500 ms to surface),
  - the notebook's time limit (kernel start included), or the kernel dying.
The result (JSON, in --result) says what happened: ok, seconds, backend, and on failure the cell
number (1-based among code cells), its first line and the error text the kernel printed.
On success the executed notebook and, with --html, its HTML page (nbconvert) are written
atomically; on failure the partly executed notebook goes to --failed when given.
"""
import argparse
import asyncio
import json
import os
import re
import sys
import time


def missing_modules():
    missing = []
    for name in ("nbformat", "nbclient", "nbconvert", "jupyter_client"):
        try:
            __import__(name)
        except Exception:  # noqa: BLE001 - any import failure means "not usable"
            missing.append(name)
    return missing


def text_of(value):
    return "".join(value) if isinstance(value, list) else (value or "")


BACKEND_LINE = re.compile(r"TensorFlow\.js backend: (\S+)")


def write_atomic(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = "%s.%d.tmp" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


class Failure(Exception):
    """A notebook failed; `info` becomes the result's `error` record."""

    def __init__(self, kind, message, cell=None, first_line=None, index=None):
        super().__init__(message)
        self.info = {"kind": kind, "message": message, "cell": cell, "firstLine": first_line, "index": index}


PROBE = "await new Promise((resolve) => setTimeout(resolve, 500));"


def judge(cell, reply):
    """(kind, message) when an executed cell failed: error reply, error output or any stderr."""
    stderr = "".join(
        text_of(o.get("text")) for o in cell.outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"
    )
    errors = [o for o in cell.outputs if o.get("output_type") == "error"]
    status = reply["content"].get("status") if reply else "ok"
    if not (status == "error" or errors or stderr.strip()):
        return None
    parts = []
    if stderr.strip():
        parts.append(stderr.strip())
    for o in errors:
        parts.append(("%s: %s" % (o.get("ename", ""), o.get("evalue", ""))).strip(": "))
    if not parts and reply:
        content = reply["content"]
        parts.append(("%s: %s" % (content.get("ename", ""), content.get("evalue", ""))).strip(": "))
    message = "\n".join(p for p in parts if p) or "the kernel reported an error without any text"
    return ("error" if status == "error" or errors else "stderr", message)


def new_client(args, nb, raise_on_late_output):
    """A Jupyter client for the notebook on the course kernel, and the dict its execute replies land in.

    Errors are allowed through (each reply is judged by the caller, with the kernel's own error text);
    `raise_on_late_output` decides whether output still missing 60 s after a cell's reply is an error.
    """
    from nbclient import NotebookClient

    replies = {}

    def on_cell_executed(cell, cell_index, execute_reply):
        replies[cell_index] = execute_reply

    client = NotebookClient(
        nb,
        kernel_name=args.kernel,
        resources={"metadata": {"path": args.cwd}},
        allow_errors=True,
        startup_timeout=max(1, int(args.timeout)),
        iopub_timeout=60,
        raise_on_iopub_timeout=raise_on_late_output,
        record_timing=False,
        on_cell_executed=on_cell_executed,
    )
    return client, replies


def note_backend(info, cell):
    """Records the backend the notebook printed (the library's first line), from the first cell that shows it."""
    if info["backend"] is not None:
        return
    for o in cell.outputs:
        if o.get("output_type") == "stream" and o.get("name") == "stdout":
            m = BACKEND_LINE.search(text_of(o.get("text")))
            if m:
                info["backend"] = m.group(1)
                return


def raise_if_no_such_kernel(args, e):
    """Turns Jupyter's NoSuchKernel into a Failure that says how to register the course kernel."""
    if e.__class__.__name__ == "NoSuchKernel":
        raise Failure("kernel", "no Jupyter kernel named %r is registered (run: node scripts/install-kernel.mjs)" % args.kernel)


async def read_language_info(client, nb, deadline):
    """Asks the started kernel for its language info and stores it in the notebook's metadata."""
    msg_id = client.kc.kernel_info()
    if asyncio.iscoroutine(msg_id):
        msg_id = await msg_id
    client.timeout = max(1, int(deadline - time.monotonic()))
    reply = await client.async_wait_for_reply(msg_id)
    if reply and "language_info" in reply["content"]:
        nb.metadata["language_info"] = reply["content"]["language_info"]


async def run(args, nb):
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbclient.util import ensure_async

    started = time.monotonic()
    deadline = started + args.timeout
    # Output still in flight when the reply arrives (a long stream of progress updates) must
    # arrive; losing it would make the notebook look fine when it was not.
    client, replies = new_client(args, nb, raise_on_late_output=True)
    info = {"backend": None, "cells": 0}
    code_number = 0
    current = {"cell": None, "first": None, "index": None}
    try:
        async with client.async_setup_kernel(cwd=args.cwd):
            await read_language_info(client, nb, deadline)
            for index, cell in enumerate(nb.cells):
                if cell.cell_type != "code":
                    continue
                code_number += 1
                source = text_of(cell.source)
                first = next((line.strip() for line in source.splitlines() if line.strip()), "")
                current.update(cell=code_number, first=first, index=index)
                if not source.strip():
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise CellTimeoutError("time limit reached before this cell started")
                client.timeout = max(1, int(remaining + 0.999))
                try:
                    await client.async_execute_cell(cell, index, execution_count=code_number)
                except CellTimeoutError:
                    elapsed = time.monotonic() - started
                    # Stop the kernel at once (a polite shutdown waits for the busy cell).
                    await ensure_async(client.km.shutdown_kernel(now=True))
                    raise Failure(
                        "timeout",
                        "did not finish within the notebook time limit of %g s (stopped after %.1f s; "
                        "raise the limit with --timeout)" % (args.timeout, elapsed),
                        code_number,
                        first,
                        index,
                    )
                info["cells"] = code_number
                note_backend(info, cell)
                problem = judge(cell, replies.get(index))
                if problem:
                    raise Failure(problem[0], problem[1], code_number, first, index)

            # A probe after the last cell, not saved: code the notebook left running in the background
            # (a timer, a promise nobody awaits) gets a moment to fail, and the course kernel reports
            # such a failure on the next cell it runs, which is this one.
            if code_number > 0:
                current.update(cell=None, first=None, index=None)
                probe = nbformat.v4.new_code_cell(PROBE)
                nb.cells.append(probe)
                try:
                    client.timeout = max(1, int(deadline - time.monotonic() + 0.999))
                    await client.async_execute_cell(probe, len(nb.cells) - 1, store_history=False)
                    problem = judge(probe, replies.get(len(nb.cells) - 1))
                finally:
                    nb.cells.pop()
                if problem:
                    raise Failure(
                        "background",
                        "after the last cell, code still running in the background failed:\n" + problem[1],
                    )
    except Failure:
        raise
    except CellTimeoutError:
        raise Failure(
            "timeout",
            "did not finish within the notebook time limit of %g s (stopped after %.1f s)" % (args.timeout, time.monotonic() - started),
            current["cell"],
            current["first"],
            current["index"],
        )
    except DeadKernelError as e:
        raise Failure("dead-kernel", "the kernel died: %s" % e, current["cell"], current["first"], current["index"])
    except (RuntimeError, TimeoutError, asyncio.TimeoutError) as e:
        msg = str(e) or e.__class__.__name__
        if current["cell"] is None:
            if "Kernel didn't respond" in msg or isinstance(e, (TimeoutError, asyncio.TimeoutError)):
                raise Failure("timeout", "the kernel did not start within the time limit of %g s: %s" % (args.timeout, msg))
            raise Failure("kernel", "could not start the kernel %r: %s" % (args.kernel, msg))
        raise Failure("kernel", msg, current["cell"], current["first"], current["index"])
    except Exception as e:  # noqa: BLE001 - e.g. NoSuchKernel
        raise_if_no_such_kernel(args, e)
        raise
    info["seconds"] = time.monotonic() - started
    return info


def export_html(nb, path):
    from nbconvert import HTMLExporter
    from nbconvert.utils.base import NbConvertBase
    from traitlets.config import Config

    # Pick the figures' text/html (which draws them with the embedded plotly.js), never plotly's own
    # MIME type (which needs a front-end extension) nor the plain-text summary, whatever this
    # nbconvert version's default order is.
    priority = [m for m in NbConvertBase().display_data_priority if m != "text/html"]
    config = Config()
    config.NbConvertBase.display_data_priority = ["text/html"] + priority
    body, _ = HTMLExporter(config=config).from_notebook_node(nb)
    write_atomic(path, body)


def report(args, result):
    """Writes the run's result as JSON to --result, or prints it."""
    if args.result:
        write_atomic(args.result, json.dumps(result))
    else:
        print(json.dumps(result))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--notebook", required=False)
    p.add_argument("--executed")
    p.add_argument("--html")
    p.add_argument("--failed")
    p.add_argument("--result", required=False)
    p.add_argument("--kernel", default="flow-matching")
    p.add_argument("--cwd", default=os.getcwd())
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--check", action="store_true", help="only check that Jupyter's client pieces import")
    args = p.parse_args()

    missing = missing_modules()
    if args.check or missing:
        print(json.dumps({"missing": missing, "python": sys.executable}))
        return 0 if not missing else 3

    import nbformat

    nb = nbformat.read(args.notebook, as_version=4)
    result = {"ok": False, "notebook": args.notebook}
    try:
        info = asyncio.run(run(args, nb))
        result.update(ok=True, seconds=info["seconds"], backend=info["backend"], cells=info["cells"])
        if args.executed:
            write_atomic(args.executed, nbformat.writes(nb))
        if args.html:
            export_html(nb, args.html)
    except Failure as f:
        result["error"] = f.info
        if args.failed:
            write_atomic(args.failed, nbformat.writes(nb))
    report(args, result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
