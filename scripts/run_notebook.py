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
number (1-based among code cells), its first line and the error text the kernel printed. When the
kernel gives no text (an error reply with nothing printed, or a kernel that died), the message says
what the runner knows instead: the time spent in the cell and in the notebook, the kernel's state
(running, exited with code N, killed by signal N) and the last lines the kernel wrote on its own
stderr (kept in a temporary file).
On success the executed notebook and, with --html, its HTML page (nbconvert) are written
atomically; on failure the partly executed notebook goes to --failed when given.

--keep-going (the autograder's mode, scripts/grade.mjs; the default above stays strict): every code
cell runs even after others failed, and the result lists each code cell's outcome ("outcomes": index,
cell, status ok | error | stderr | timeout | not-run, message, seconds). A cell that runs longer than
--cell-timeout (or past the notebook's --timeout) is interrupted and recorded as "timeout"; when the
kernel comes back the run goes on, otherwise the kernel is stopped and the remaining cells are
"not-run". The executed notebook is always written (--executed). The result's "ok" is true when every
cell was ok.
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
    # None: the kernel said nothing (see explain).
    message = "\n".join(p for p in parts if p) or None
    return ("error" if status == "error" or errors else "stderr", message)


class KernelLog:
    """The kernel's own stderr (Node's fatal errors, the launcher's notes), kept in a temporary file
    so that a failure the kernel says nothing about can quote its last lines."""

    def __init__(self):
        import tempfile

        self.file = tempfile.TemporaryFile(mode="w+b")

    def tail(self, lines=20):
        try:
            self.file.flush()
            self.file.seek(0)
            text = self.file.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])


async def kernel_state(client):
    """'running', 'exited with code N' or 'killed by signal N' (or 'unknown')."""
    from nbclient.util import ensure_async

    km = getattr(client, "km", None)
    process = getattr(getattr(km, "provisioner", None), "process", None)
    code = process.poll() if process is not None else None
    if code is None:
        try:
            alive = await ensure_async(km.is_alive()) if km is not None else None
        except Exception:  # noqa: BLE001 - a broken manager is "unknown"
            alive = None
        return "running" if alive else "unknown" if alive is None else "dead"
    return "killed by signal %d" % -code if code < 0 else "exited with code %d" % code


async def kernel_report(client, log, cell_seconds, total_seconds):
    """What the runner knows when the kernel gives no reason: times, kernel state, its stderr."""
    state = await kernel_state(client)
    tail = log.tail()
    text = "after %.1f s in this cell (%.1f s into the notebook); kernel state: %s" % (
        cell_seconds, total_seconds, state)
    if not tail:
        return text + "\nthe kernel wrote nothing on stderr"
    return text + "\nthe kernel's last lines on stderr:\n" + tail


async def explain(problem, client, log, cell_started, started):
    """Fills in the message of a problem the kernel gave no text for (see judge)."""
    if problem is None or problem[1] is not None:
        return problem
    now = time.monotonic()
    report = await kernel_report(client, log, now - cell_started, now - started)
    return (problem[0], "the kernel reported an error without any text, " + report)


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
    log = KernelLog()
    try:
        async with client.async_setup_kernel(cwd=args.cwd, stderr=log.file):
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
                cell_started = time.monotonic()
                try:
                    await client.async_execute_cell(cell, index, execution_count=code_number)
                except DeadKernelError as e:
                    now = time.monotonic()
                    report = await kernel_report(client, log, now - cell_started, now - started)
                    why = "the kernel died (%s), %s" % (e, report)
                    raise Failure("dead-kernel", why, code_number, first, index)
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
                problem = await explain(problem, client, log, cell_started, started)
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
                    probe_started = time.monotonic()
                    await client.async_execute_cell(probe, len(nb.cells) - 1, store_history=False)
                    problem = judge(probe, replies.get(len(nb.cells) - 1))
                    problem = await explain(problem, client, log, probe_started, started)
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


KERNEL_BACK_PROBE = "// is the kernel responsive again?"


async def run_keep_going(args, nb):
    """The grading mode: every code cell runs; each one's outcome is recorded (see the header)."""
    import nbformat
    from nbclient.exceptions import CellTimeoutError, DeadKernelError
    from nbclient.util import ensure_async

    started = time.monotonic()
    deadline = started + args.timeout
    client, replies = new_client(args, nb, raise_on_late_output=False)  # a late output must not stop the other cells
    info = {"backend": None, "cells": 0, "outcomes": []}
    outcomes = info["outcomes"]
    code_cells = [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    log = KernelLog()
    died = {}  # what the runner knew when the kernel died: filled in inside the kernel's context

    def first_line(cell):
        return next((line.strip() for line in text_of(cell.source).splitlines() if line.strip()), "")

    def record(index, number, cell, status, message="", seconds=0.0):
        outcomes.append({"index": index, "cell": number, "firstLine": first_line(cell) if cell is not None else None,
                         "status": status, "message": message, "seconds": round(seconds, 3)})

    def skip_rest(position, why):
        for number, (index, cell) in enumerate(code_cells[position:], start=position + 1):
            record(index, number, cell, "not-run", why)

    async def execute(cell, index, timeout, count=None, store_history=True):
        client.timeout = max(1, int(timeout + 0.999))
        await client.async_execute_cell(cell, index, execution_count=count, store_history=store_history)

    async def responsive():
        """After an interrupt: does the kernel answer a trivial cell within a few seconds?"""
        probe = nbformat.v4.new_code_cell(KERNEL_BACK_PROBE)
        nb.cells.append(probe)
        try:
            for _ in range(3):
                await asyncio.sleep(0.3)  # tslab aborts what arrives within 200 ms of a failed cell
                try:
                    await execute(probe, len(nb.cells) - 1, 10, store_history=False)
                except CellTimeoutError:
                    return False
                reply = replies.get(len(nb.cells) - 1)
                if reply and reply["content"].get("status") == "ok":
                    return True
            return False
        finally:
            nb.cells.pop()

    try:
        async with client.async_setup_kernel(cwd=args.cwd, stderr=log.file):
            await read_language_info(client, nb, deadline)
            position = 0
            while position < len(code_cells):
                index, cell = code_cells[position]
                number = position + 1
                position += 1
                if not text_of(cell.source).strip():
                    record(index, number, cell, "ok")
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    skip_rest(position - 1, "the notebook's time limit of %g s was reached before this cell" % args.timeout)
                    break
                limit = min(remaining, args.cell_timeout) if args.cell_timeout else remaining
                t0 = time.monotonic()
                status = None
                for attempt in range(3):
                    replies.pop(index, None)
                    try:
                        await execute(cell, index, limit, count=number)
                    except CellTimeoutError:
                        status = "timeout"
                        break
                    except DeadKernelError:
                        now = time.monotonic()
                        died["report"] = await kernel_report(client, log, now - t0, now - started)
                        raise
                    reply = replies.get(index)
                    if reply and reply["content"].get("status") == "abort" and attempt < 2:
                        await asyncio.sleep(0.3)  # sent inside tslab's 200 ms abort window: send again
                        continue
                    break
                seconds = time.monotonic() - t0
                info["cells"] = number
                if status == "timeout":
                    which = "cell" if args.cell_timeout and limit >= args.cell_timeout - 1e-6 else "notebook"
                    limit_text = args.cell_timeout if which == "cell" else args.timeout
                    record(index, number, cell, "timeout",
                           "stopped after %.1f s: the %s time limit is %g s" % (seconds, which, limit_text), seconds)
                    await ensure_async(client.km.interrupt_kernel())
                    if not await responsive():
                        await ensure_async(client.km.shutdown_kernel(now=True))
                        skip_rest(position, "the kernel did not recover from the interrupted cell %d" % number)
                        break
                    continue
                note_backend(info, cell)
                problem = await explain(judge(cell, replies.get(index)), client, log, t0, started)
                if problem:
                    record(index, number, cell, problem[0], problem[1], seconds)
                    await asyncio.sleep(0.3)  # tslab aborts requests arriving within 200 ms of a failed cell
                else:
                    record(index, number, cell, "ok", "", seconds)
    except DeadKernelError as e:
        done = {o["index"] for o in outcomes}
        rest = [(n, i, c) for n, (i, c) in enumerate(code_cells, start=1) if i not in done]
        for k, (n, i, c) in enumerate(rest):
            if k > 0:
                record(i, n, c, "not-run", "the kernel died earlier")
            elif "report" in died:
                record(i, n, c, "error", "the kernel died (%s), %s" % (e, died["report"]))
            else:
                record(i, n, c, "error", "the kernel died: %s" % e)
    except (RuntimeError, TimeoutError, asyncio.TimeoutError) as e:
        if outcomes:
            raise
        msg = str(e) or e.__class__.__name__
        raise Failure("kernel", "could not start the kernel %r: %s" % (args.kernel, msg))
    except Exception as e:  # noqa: BLE001 - e.g. NoSuchKernel
        raise_if_no_such_kernel(args, e)
        raise
    info["seconds"] = time.monotonic() - started
    return info


PLOTLY_BUNDLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                             "node_modules", "plotly.js-dist-min", "plotly.min.js")
FIGURE_MARK = 'class="fm-figure"'


def with_plotly(nb):
    """A copy of the notebook whose first figure's HTML starts with plotly.js itself: the page then
    draws every figure offline. (In Jupyter, figures load plotly.js from the server instead, so that
    saved notebooks stay small; see src/notebook/display.ts.)"""
    import copy

    page = copy.deepcopy(nb)
    for cell in page.cells:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html")
            if html is None or FIGURE_MARK not in text_of(html):
                continue
            with open(PLOTLY_BUNDLE, encoding="utf-8") as f:
                bundle = f.read()
            if re.search(r"</script", bundle, re.IGNORECASE):
                raise RuntimeError("the plotly.js bundle contains </script> and cannot be inlined")
            version = re.search(r"plotly\.js v(\S+)", bundle[:300])
            comment = "/* plotly.js %s, embedded once per notebook */" % (
                version.group(1) if version else "")
            tag = '<script type="text/javascript">%s\n%s\n</script>\n' % (comment, bundle)
            output["data"]["text/html"] = tag + text_of(html)
            return page
    return page


APPENDIX_TAG = "appendix"

# The page template: nbconvert's own (lab) page, with the cells tagged "appendix" (the notebook's last
# section, from its "## Appendix" heading on) inside one <details> element, closed until the reader
# opens it; plots drawn while it was closed are resized to the page when it opens.
PAGE_TEMPLATE = r"""{%- extends 'index.html.j2' -%}
{% block any_cell %}
{%- if cell.metadata.get('fm_appendix_start') -%}
<details class="fm-appendix">
<summary>Appendix: checks, tolerances and implementation notes (click to open)</summary>
{%- endif -%}
{{ super() }}
{% endblock any_cell %}
{% block body_footer %}
{%- if nb.metadata.get('fm_appendix') %}</details>
<style>details.fm-appendix > summary { cursor: pointer; font-size: 1.2em; font-weight: bold; margin: 1em 0; }</style>
<script>
document.querySelectorAll("details.fm-appendix").forEach(function (d) {
  d.addEventListener("toggle", function () {
    if (!d.open || !window.Plotly) return;
    d.querySelectorAll(".js-plotly-plot").forEach(function (p) { window.Plotly.Plots.resize(p); });
  });
});
</script>
{% endif -%}
{{ super() }}
{% endblock body_footer %}
"""


def mark_appendix(nb):
    """A copy of the notebook whose first appendix cell (and the notebook) say where <details> goes."""
    import copy

    marked = copy.deepcopy(nb)
    start = next((i for i, c in enumerate(marked.cells) if APPENDIX_TAG in c.metadata.get("tags", [])), None)
    if start is not None:
        marked.cells[start].metadata["fm_appendix_start"] = True
        marked.metadata["fm_appendix"] = True
    return marked


def export_html(nb, path):
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter
    from nbconvert.utils.base import NbConvertBase
    from traitlets.config import Config

    # Pick the figures' text/html (which draws them with the embedded plotly.js), never plotly's own
    # MIME type (which needs a front-end extension) nor the plain-text summary, whatever this
    # nbconvert version's default order is.
    priority = [m for m in NbConvertBase().display_data_priority if m != "text/html"]
    config = Config()
    config.NbConvertBase.display_data_priority = ["text/html"] + priority
    exporter = HTMLExporter(
        config=config, extra_loaders=[DictLoader({"course.html.j2": PAGE_TEMPLATE})], template_file="course.html.j2"
    )
    body, _ = exporter.from_notebook_node(mark_appendix(with_plotly(nb)))
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
    p.add_argument("--keep-going", action="store_true", help="grading mode: run every cell, record each one's outcome")
    p.add_argument("--cell-timeout", type=float, default=0.0, help="with --keep-going: seconds per cell (0: only --timeout)")
    args = p.parse_args()

    missing = missing_modules()
    if args.check or missing:
        print(json.dumps({"missing": missing, "python": sys.executable}))
        return 0 if not missing else 3

    import nbformat

    nb = nbformat.read(args.notebook, as_version=4)
    result = {"ok": False, "notebook": args.notebook}
    if args.keep_going:
        try:
            info = asyncio.run(run_keep_going(args, nb))
            result.update(ok=all(o["status"] == "ok" for o in info["outcomes"]), mode="keep-going", seconds=info["seconds"],
                          backend=info["backend"], cells=info["cells"], outcomes=info["outcomes"])
        except Failure as f:
            result.update(mode="keep-going", error=f.info, outcomes=[])
        if args.executed:
            write_atomic(args.executed, nbformat.writes(nb))
        report(args, result)
        return 0 if "error" not in result else 1
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
