"""The autograder's kernel driver: grades students' notebooks with two kernels per notebook.

Started by scripts/grade.mjs (not meant to be run by hand):

    session.py --config <config.json>    jobs on stdin, a JSON per line; results on stdout, likewise

For each notebook of a job (one student):
  - the *student kernel* runs in a jail (sandbox.py) as an unprivileged user: the TA's cells of
    the notebook with the student's answer cells in place of the solutions; after each exercise a
    capture cell prints the names the exercise asks for as data;
  - the *clean kernel* runs the TA's reference notebook (no checks) in a throwaway copy of the
    course and never runs a line of student code; it is kept for the next student of the notebook;
  - the hidden checks run in the clean kernel on the captured values; a function the student wrote
    is called in their jail through a pipe (the student kernel answers while a check runs);
  - at the end the student kernel is killed with everything it started (the jail's PID namespace),
    and the driver waits until no process of the jail's user is left before it answers.
The student's cells have a time limit (interrupted when passed; a kernel that does not come back is
stopped), each notebook too; what a cell prints is kept up to a limit and the rest dropped.

Config: {"slots": [user names], "lock_dir", "jail": true|false, "course_for_reference": dir,
"reference_kernel": {"name", "dirs"}, "sandbox": path of sandbox.py, "python", "node",
"node_modules", "limits": {...}, "jail_env", "work": private folder of this session (root only),
"keep_references": clean kernels kept at once (at least one per notebook of the job being graded)}.
"""

import asyncio
import fcntl
import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time

MARK = "@@fm-grade-capture@@"
KERNEL_BACK_PROBE = "// is the kernel responsive again?"


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def text_of(value):
    return "".join(value) if isinstance(value, list) else (value or "")


# --------------------------------------------------------------------------------------------------
# One kernel, driven cell by cell.


class Outcome(dict):
    pass


class Kernel:
    """A Jupyter kernel driven through jupyter_client (outputs kept as text, up to a limit)."""

    def __init__(self, label, kernel_name, kernel_dirs, cwd, env=None, max_message=96 << 20):
        import zmq
        import zmq.asyncio
        from jupyter_client.kernelspec import KernelSpecManager
        from jupyter_client.manager import AsyncKernelManager

        self.label = label
        self.ctx = zmq.asyncio.Context()
        self.ctx.setsockopt(
            zmq.MAXMSGSIZE, max_message
        )  # a student printing gigabytes cannot fill our memory
        self.km = AsyncKernelManager(
            kernel_name=kernel_name, kernel_spec_manager=KernelSpecManager(kernel_dirs=kernel_dirs)
        )
        self.cwd = cwd
        self.env = env
        self.kc = None
        self.dead = False
        self.backend = None

    async def start(self, timeout, log_path=os.devnull):
        # The kernel's own stdout and stderr (a cell's output travels on Jupyter's channels) go to
        # a log, never to this driver's stdout, which is its answer channel to grade.mjs.
        self.log = open(log_path, "ab")
        self.log_path = log_path
        kwargs = {
            "cwd": self.cwd,
            "stdout": self.log,
            "stderr": self.log,
            "stdin": subprocess.DEVNULL,
        }
        if self.env is not None:
            kwargs["env"] = self.env
        await self.km.start_kernel(**kwargs)
        self.kc = self.km.client(context=self.ctx)
        self.kc.start_channels()
        await self.kc.wait_for_ready(timeout=timeout)

    def death_note(self, lines=5, chars=600):
        """Why the kernel is gone: how its process ended and the last lines it wrote itself."""
        process = getattr(getattr(self.km, "provisioner", None), "process", None)
        code = process.poll() if process is not None else None
        how = (
            "the kernel died"
            if code is None
            else "the kernel was killed by signal %d" % -code
            if code < 0
            else "the kernel exited with code %d" % code
        )
        tail = ""
        path = getattr(self, "log_path", os.devnull)
        if path != os.devnull:
            try:
                self.log.flush()
                with open(path, "rb") as f:
                    text = f.read().decode("utf-8", "replace")
                tail = "\n".join(text.rstrip().splitlines()[-lines:])[-chars:]
            except (OSError, ValueError):
                tail = ""
        return how + ("; its last words:\n" + tail if tail else "")

    async def alive(self):
        try:
            return await self.km.is_alive()
        except Exception:  # noqa: BLE001
            return False

    async def _run_once(self, code, timeout, keep_out, keep_err):
        from queue import Empty

        msg_id = self.kc.execute(code, store_history=False, allow_stdin=False, stop_on_error=False)
        deadline = time.monotonic() + timeout
        out, err, errors = [], [], []
        sizes = {"out": 0, "err": 0, "dropped": 0}
        reply = None
        idle = False
        reply_time = None
        output_ended = True
        next_alive_check = time.monotonic() + 1

        def keep(buf, key, text, limit):
            room = limit - sizes[key]
            if room > 0:
                buf.append(text[:room])
            sizes[key] += len(text)
            if len(text) > room:
                sizes["dropped"] += len(text) - max(room, 0)

        while not (reply is not None and idle):
            now = time.monotonic()
            if now > deadline:
                return Outcome(status="timeout")
            if reply is not None and reply_time is not None and now - reply_time > 5:
                # The reply came but the end of the output did not: keep what arrived, and say so.
                output_ended = False
                break
            if now > next_alive_check:
                next_alive_check = now + 1
                if not await self.alive():
                    self.dead = True
                    return Outcome(status="dead", message=self.death_note())
            if reply is None:
                try:
                    msg = await self.kc.get_shell_msg(timeout=0.02)
                    if msg["parent_header"].get("msg_id") == msg_id:
                        reply = msg
                        reply_time = time.monotonic()
                except Empty:
                    pass
            try:
                msg = await self.kc.get_iopub_msg(timeout=0.05)
            except Empty:
                msg = None
            if msg is None or msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            content = msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                idle = True
            elif kind == "stream":
                if content.get("name") == "stderr":
                    keep(err, "err", text_of(content.get("text")), keep_err)
                else:
                    keep(out, "out", text_of(content.get("text")), keep_out)
            elif kind == "error":
                errors.append(
                    ("%s: %s" % (content.get("ename", ""), content.get("evalue", ""))).strip(": ")
                )
        status = reply["content"].get("status") if reply else "ok"
        return Outcome(
            status=status,
            out="".join(out),
            err="".join(err),
            errors=errors,
            reply=reply["content"] if reply else {},
            dropped=sizes["dropped"],
            output_ended=output_ended,
        )

    async def run(self, code, timeout, keep_out=256 << 10, keep_err=64 << 10):
        """Runs one cell: {status: ok | error | timeout | dead, message, out, seconds}."""
        if self.dead:
            return Outcome(status="not-run", message="the kernel had stopped", out="", seconds=0.0)
        t0 = time.monotonic()
        for attempt in range(3):
            r = await self._run_once(code, timeout - (time.monotonic() - t0), keep_out, keep_err)
            if r["status"] == "abort" and attempt < 2:
                await asyncio.sleep(
                    0.3
                )  # tslab aborts what arrives within 200 ms of a failed cell: send again
                continue
            break
        r["seconds"] = time.monotonic() - t0
        if r["status"] in ("timeout", "dead"):
            r.setdefault("message", "")
            r.setdefault("out", "")
            return r
        if self.backend is None:
            import re

            m = re.search(r"TensorFlow\.js backend: (\S+)", r.get("out", ""))
            if m:
                self.backend = m.group(1)
        parts = []
        if r["err"].strip():
            parts.append(r["err"].strip())
        parts.extend(r["errors"])
        if r["status"] == "error" and not parts:
            content = r["reply"]
            parts.append(
                ("%s: %s" % (content.get("ename", ""), content.get("evalue", ""))).strip(": ")
                or "failed"
            )
        failed = r["status"] == "error" or r["errors"]
        r["message"] = "\n".join(parts)
        if r["dropped"]:
            r["message"] = (
                r["message"] + "\n" if r["message"] else ""
            ) + "(%d characters of output were dropped)" % r["dropped"]
        r["status"] = "error" if failed else ("stderr" if r["err"].strip() else "ok")
        if failed:
            await asyncio.sleep(0.3)  # tslab's abort window after a failed cell
        return r

    async def interrupt(self):
        try:
            await self.km.interrupt_kernel()
        except Exception:  # noqa: BLE001
            pass

    async def stop_overrun(self):
        """A cell ran past its time limit: interrupts it (Jupyter's interrupt, the signal of Kernel >
        Interrupt, which stops the course library's loops at their next step) and stops a kernel
        that does not answer afterwards. Returns whether the kernel is usable."""
        await self.interrupt()
        if await self.responsive():
            return True
        await self.stop()
        return False

    async def responsive(self):
        """After an interrupt: does the kernel answer a trivial cell within a few seconds?"""
        for _ in range(3):
            await asyncio.sleep(0.3)
            r = await self.run(KERNEL_BACK_PROBE, 10)
            if r["status"] == "ok":
                return True
            if r["status"] in ("dead", "not-run"):
                return False
        return False

    async def stop(self):
        """Stops the kernel at once (SIGKILL to its process; a jail takes all it started along)."""
        try:
            if self.kc is not None:
                self.kc.stop_channels()
        except Exception:  # noqa: BLE001
            pass
        try:
            await self.km.shutdown_kernel(now=True)
        except Exception:  # noqa: BLE001
            try:
                if self.km.has_kernel:
                    await self.km._async_kill_kernel()  # noqa: SLF001
            except Exception:  # noqa: BLE001
                pass
        self.dead = True
        if getattr(self, "log", None) is not None:
            self.log.close()
        try:
            self.ctx.destroy(linger=0)
        except Exception:  # noqa: BLE001
            pass


# --------------------------------------------------------------------------------------------------
# The jail's user: one per slot, created when missing, held with a lock while a student is graded.


def ensure_user(name):
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--home-dir",
            "/nonexistent",
            "--shell",
            "/usr/sbin/nologin",
            "--user-group",
            name,
        ],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return pwd.getpwnam(name)


class Slot:
    def __init__(self, names, lock_dir):
        self.fd = None
        os.makedirs(lock_dir, mode=0o700, exist_ok=True)
        for name in names:
            fd = os.open(os.path.join(lock_dir, name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.fd = fd
            self.name = name
            self.user = ensure_user(name)
            return
        raise RuntimeError(
            "every grading slot (%s) is in use by another grading run" % ", ".join(names)
        )

    def processes(self):
        uid = self.user.pw_uid
        found = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/status" % entry) as f:
                    for line in f:
                        if line.startswith("Uid:"):
                            if uid in [int(x) for x in line.split()[1:]]:
                                found.append(int(entry))
                            break
            except OSError:
                continue
        return found

    def release(self, out):
        """Kills what is left of the student, gives the slot back; out["leftover"]: survivors."""
        try:
            self.kill_all()
            out["leftover"] = len(self.processes())
        finally:
            os.close(self.fd)

    def kill_all(self):
        """Kills every process of the slot's user (there should be none: the namespace took all)."""
        killed = 0
        for _ in range(100):
            pids = self.processes()
            if not pids:
                return killed
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                    killed += 1
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        left = self.processes()
        if left:
            raise RuntimeError("processes of %s survive SIGKILL: %s" % (self.name, left))
        return killed


# --------------------------------------------------------------------------------------------------
# Reference kernels (clean), kept per notebook for the whole session.


class Reference:
    def __init__(self, session, spec):
        self.session = session
        self.key = spec["key"]
        self.spec = spec
        self.kernel = None
        self.error = None
        self.seconds = None
        self.task = None
        self.lock = asyncio.Lock()

    async def prepare(self):
        cfg = self.session.config
        t0 = time.monotonic()
        folder = os.path.join(self.session.work, "clean-%s" % self.key[:16])
        if not os.path.isdir(folder):
            shutil.copytree(cfg["course_for_reference"], folder, symlinks=True)
        self.io = folder
        # The clean kernels keep the library they compiled in the session's private folder, never
        # in a folder a student's code could have written (see scripts/kernel.js, section 10).
        cache = os.path.join(self.session.work, "compile-cache")
        self.kernel = Kernel(
            "clean",
            cfg["reference_kernel"]["name"],
            cfg["reference_kernel"]["dirs"],
            folder,
            env=dict(os.environ, FM_COMPILE_CACHE=cache),
        )
        limit = self.spec["limits"]["notebook"]
        try:
            await self.kernel.start(timeout=min(limit, 120), log_path=folder + ".log")
        except Exception as e:  # noqa: BLE001
            self.error = "the clean kernel did not start: %s" % e
            return
        deadline = time.monotonic() + limit
        for k, source in enumerate(self.spec["cells"]):
            r = await self.kernel.run(source, max(1, deadline - time.monotonic()))
            if r["status"] not in ("ok", "stderr"):
                first = (r.get("message") or r["status"]).strip().splitlines() or [r["status"]]
                self.error = "the reference notebook failed at its code cell %d: %s" % (
                    k + 1,
                    first[0][:300],
                )
                return
        r = await self.kernel.run(self.spec["clean"], 60)
        if r["status"] != "ok":
            self.error = "the clean checker could not be loaded: %s" % r.get("message")
            return
        self.seconds = time.monotonic() - t0

    def start(self):
        if self.task is None:
            self.task = asyncio.ensure_future(self.prepare())
        return self.task

    async def restart(self):
        if self.kernel is not None:
            await self.kernel.stop()
        self.kernel = None
        self.error = None
        self.task = None
        await self.start()


# --------------------------------------------------------------------------------------------------
# One student's notebook.


class Session:
    def __init__(self, config):
        self.config = config
        self.work = config["work"]
        self.references = {}
        self.counter = 0
        self.cgroups = []

    def reference(self, spec, job_notebooks=0):
        """The clean kernel of a notebook, kept for the next student. At least one per notebook of
        the job is kept: with fewer, a class's students, who all hand in the same notebooks in the
        same order, would evict each reference before its next use and rerun every one of them."""
        ref = self.references.get(spec["key"])
        if ref is None:
            keep = max(int(self.config.get("keep_references", 9)), job_notebooks)
            while len(self.references) >= keep:
                oldest = next(iter(self.references))
                old = self.references.pop(oldest)
                if old.kernel is not None:
                    asyncio.ensure_future(old.kernel.stop())
            ref = Reference(self, spec)
            self.references[spec["key"]] = ref
        return ref

    def jail_spec(self, slot, course, io, connection, log_name):
        """Writes a jail's spec (sandbox.py) for a student process: returns its folder, argv."""
        cfg = self.config
        self.counter += 1
        tag = "%d-%d" % (os.getpid(), self.counter)
        spec_dir = os.path.join(self.work, "jail-" + tag)
        os.makedirs(spec_dir, exist_ok=True)
        limits = cfg["limits"]
        spec = {
            "uid": slot.user.pw_uid,
            "gid": slot.user.pw_gid,
            "user": slot.name,
            "root": os.path.join(spec_dir, "root"),
            "course": course,
            "node_modules": cfg["node_modules"],
            "io": io,
            "node": cfg["node"],
            "tmpfs_mb": limits.get("disk_mb", 1024),
            "log": "/run/io/" + log_name,
            "limits": {
                "nproc": limits.get("processes", 256),
                "nofile": 1024,
                "fsize_mb": limits.get("file_mb", 256),
                "cpu_s": limits.get("cpu_s", 3600),
                "memory_mb": limits.get("memory_mb", 4096),
            },
            "cgroup": "fm-grader-" + tag,
            "connection": connection,
            "env": cfg.get("jail_env", {}),
        }
        with open(os.path.join(spec_dir, "spec.json"), "w") as f:
            json.dump(spec, f)
        self.cgroups.append(spec["cgroup"])
        return spec_dir, [
            cfg["python"],
            cfg["sandbox"],
            "--spec",
            os.path.join(spec_dir, "spec.json"),
            "--",
        ]

    def remove_cgroups(self):
        """Removes the jails' cgroups (sandbox.py removes its own only when not killed first)."""
        for name in self.cgroups:
            for base in ("/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup"):
                path = os.path.join(base, name)
                for _ in range(20):
                    try:
                        os.rmdir(path)
                        break
                    except FileNotFoundError:
                        break
                    except OSError:
                        time.sleep(0.05)  # the killed processes are still leaving it
        self.cgroups = []

    def jail_kernel(self, slot, course, io):
        cfg = self.config
        spec_dir, prefix = self.jail_spec(slot, course, io, True, "kernel.log")
        os.makedirs(os.path.join(spec_dir, "kernels", "fm-jail"), exist_ok=True)
        argv = prefix + [
            cfg["node"],
            "/course/scripts/kernel.js",
            "--config-path",
            "{connection_file}",
        ]
        with open(os.path.join(spec_dir, "kernels", "fm-jail", "kernel.json"), "w") as f:
            json.dump(
                {
                    "argv": argv,
                    "display_name": "jail",
                    "language": "typescript",
                    "interrupt_mode": "signal",
                },
                f,
            )
        return Kernel(
            "student", "fm-jail", [os.path.join(spec_dir, "kernels")], course, env=dict(os.environ)
        )

    def open_kernel(self, course, io):
        """Without a jail (--no-jail: the grader's own user, for a TA's own notebooks)."""
        cfg = self.config
        return Kernel(
            "student",
            cfg["reference_kernel"]["name"],
            cfg["reference_kernel"]["dirs"],
            course,
            env=dict(os.environ, FM_GRADING_IO=io),
        )

    async def grade_notebook(self, job, nb, slot):
        limits = nb["limits"]
        result = {"name": nb["name"], "outcomes": [], "captures": {}, "checks": [], "sandbox": {}}
        ref = self.reference(nb["reference"], len(job.get("notebooks", [])))
        ref.start()
        io = self.new_io(slot, sorted({c["exercise"] for c in nb["checks"]}), ["kernel.log"])
        course = nb["course"]
        student = self.jail_kernel(slot, course, io) if slot else self.open_kernel(course, io)
        t0 = time.monotonic()
        try:
            log_path = os.path.join(self.work, "student-%d.log" % self.counter)
            try:
                await student.start(timeout=min(120, limits["notebook"]), log_path=log_path)
            except Exception as e:  # noqa: BLE001
                with open(log_path, errors="replace") as f:
                    said = f.read()[-1000:].strip()
                result["error"] = "the student's kernel did not start: %s%s" % (
                    e,
                    " (%s)" % said if said else "",
                )
                return result
            await self.run_student(student, nb, limits, result)
            result["seconds"] = time.monotonic() - t0
            result["backend"] = student.backend
            await ref.task
            if ref.error is None and ref.kernel.dead:
                await ref.restart()  # it died while checking an earlier student: a fresh one
            result["reference"] = {"error": ref.error, "seconds": ref.seconds}
            if ref.error is None:
                await self.run_checks(ref, student, nb, io, result)
        finally:
            await student.stop()
            if slot:
                result["sandbox"] = {"user": slot.name, "killed_after": slot.kill_all()}
            shutil.rmtree(io, ignore_errors=True)
        return result

    async def run_student(self, kernel, nb, limits, result):
        deadline = time.monotonic() + limits["notebook"]
        cells = nb["cells"]
        for index, cell in enumerate(cells):
            entry = {"index": index, "role": cell["role"], "exercise": cell.get("exercise")}
            result["outcomes"].append(entry)
            remaining = deadline - time.monotonic()
            if kernel.dead:
                entry.update(status="not-run", message="the kernel had stopped")
                continue
            if remaining <= 0:
                entry.update(
                    status="not-run",
                    message="the notebook's time limit of %g s was reached before this cell"
                    % limits["notebook"],
                )
                continue
            # The cell limit is for what runs the student's code (their cells, reading their
            # values); the TA's own cells only have the notebook's limit, so a busy machine does not
            # fail the course's slow cells.
            student_code = cell["role"] in ("answer", "added", "capture")
            limit = min(remaining, limits["cell"]) if student_code else remaining
            capture = cell["role"] == "capture"
            r = await kernel.run(
                cell["source"], limit, keep_out=(64 << 20) if capture else (256 << 10)
            )
            entry.update(
                status=r["status"],
                message=r.get("message", "")[:4000],
                seconds=round(r.get("seconds", 0), 3),
            )
            if r.get("output_ended") is False:
                entry["output_ended"] = False  # its output may be cut short (see Kernel._run_once)
            if capture:
                lines = [l for l in r.get("out", "").splitlines() if l.startswith(MARK)]
                if lines:
                    result["captures"][str(cell.get("key", cell["exercise"]))] = lines[-1][
                        len(MARK) :
                    ]
            if r["status"] == "timeout":
                which = "cell" if limit >= limits["cell"] - 1e-6 else "notebook"
                entry["message"] = "stopped after %.1f s: the %s time limit is %g s" % (
                    r["seconds"],
                    which,
                    limits["cell"] if which == "cell" else limits["notebook"],
                )
                await kernel.stop_overrun()

    async def run_checks(self, ref, student, nb, io, result):
        values = {}
        for k, text in result["captures"].items():
            try:
                parsed = json.loads(text)
            except ValueError:
                continue
            if (
                isinstance(parsed, dict)
                and isinstance(parsed.get("values"), dict)
                and str(parsed.get("exercise")) == k
            ):
                values[k] = parsed["values"]
        values_file = os.path.join(ref.io, "values.json")
        async with ref.lock:
            for check in nb["checks"]:
                # A test's variant of an answer (the negative controls) replaces that exercise's
                # values.
                these = dict(values)
                if check.get("variant") is not None:
                    these[str(check["exercise"])] = (
                        check["values"]
                        if "values" in check
                        else values.get(str(check["variant"]), {})
                    )
                with open(values_file, "w") as f:
                    json.dump(these, f)
                r = await ref.kernel.run(
                    "fmGradingClean.begin(%s, %s);" % (json.dumps(values_file), json.dumps(io)), 60
                )
                if r["status"] != "ok":
                    result["checks"].append(
                        {
                            "exercise": check["exercise"],
                            "variant": check.get("variant"),
                            "status": "error",
                            "message": "GradingError: the clean checker failed: %s"
                            % r.get("message"),
                        }
                    )
                    continue
                wires = [these.get(str(src), {}).get(name) for name, src in check["binds"].items()]
                serve = (
                    any('"$": "ref"' in json.dumps(w) for w in wires if w is not None)
                    and not student.dead
                )
                entry = {"exercise": check["exercise"], "variant": check.get("variant")}
                serving = None
                if serve:
                    serving = asyncio.ensure_future(
                        student.run(
                            "(globalThis as any).__fmGrading?.serve(%d);" % check["exercise"],
                            nb["limits"]["check"] + 30,
                        )
                    )
                r = await ref.kernel.run(check["source"], nb["limits"]["check"])
                entry.update(
                    status=r["status"],
                    message=r.get("message", "")[:4000],
                    seconds=round(r.get("seconds", 0), 3),
                )
                if r["status"] == "timeout":
                    entry["message"] = (
                        "the check did not finish within %g s" % nb["limits"]["check"]
                    )
                    await ref.kernel.interrupt()
                    if not await ref.kernel.responsive():
                        result["checks"].append(entry)
                        await ref.restart()  # the next student gets a fresh clean kernel
                        for rest in nb["checks"][len(result["checks"]) :]:
                            result["checks"].append(
                                {
                                    "exercise": rest["exercise"],
                                    "status": "not-run",
                                    "message": "the clean checker had to be restarted",
                                }
                            )
                        return
                if serving is not None:
                    self.tell_done(io, check["exercise"])
                    try:
                        await asyncio.wait_for(asyncio.shield(serving), 5)
                    except asyncio.TimeoutError:
                        await student.interrupt()  # stuck in one of their functions: stop it
                        try:
                            await asyncio.wait_for(serving, 10)
                        except asyncio.TimeoutError:
                            await student.stop()
                result["checks"].append(entry)

    @staticmethod
    def tell_done(io, n):
        path = os.path.join(io, "rpc-%s.req" % n)
        body = json.dumps({"op": "done"}).encode()
        try:
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_NOFOLLOW)
            try:
                os.write(fd, len(body).to_bytes(4, "big") + body)
            finally:
                os.close(fd)
        except OSError:
            pass

    def new_io(self, slot, channels, logs):
        """The folder bound at /run/io in a jail: the pipes to the clean side and the process's log.

        It belongs to root and the student cannot add, remove or replace anything in it: the pipes
        and the log are made here beforehand (theirs to read and write), so nothing the grader opens
        there can have been swapped for a link to one of the TA's files.
        """
        self.counter += 1
        io = os.path.join(self.work, "io-%d-%d" % (os.getpid(), self.counter))
        os.makedirs(io, mode=0o755)
        os.chmod(io, 0o755)
        uid = slot.user.pw_uid if slot else os.getuid()
        gid = slot.user.pw_gid if slot else os.getgid()
        for name in logs:
            fd = os.open(os.path.join(io, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.close(fd)
            os.chown(os.path.join(io, name), uid, gid)
        for channel in channels:
            for end in ("req", "resp"):
                path = os.path.join(io, "rpc-%s.%s" % (channel, end))
                os.mkfifo(path, 0o600)
                os.chown(path, uid, gid)
        return io

    async def grade_library(self, job):
        """The library's hidden tests: clean vitest, whose blanked functions call the student's."""
        t0 = time.monotonic()
        out = {"student": job.get("student"), "kind": "library"}
        slot = (
            Slot(self.config["slots"], self.config["lock_dir"])
            if self.config.get("jail", True)
            else None
        )
        server = None
        io = None
        try:
            if slot:
                slot.kill_all()
            io = self.new_io(slot, ["lib"], ["server.log"])
            functions = json.dumps(job["functions"])
            if slot:
                _, prefix = self.jail_spec(slot, job["course"], io, False, "server.log")
                argv = prefix + [
                    self.config["node"],
                    "/course/.grading/library-server.cjs",
                    functions,
                ]
                server = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    env=dict(os.environ)
                )
            else:
                # Without a jail: the same server as this user, with the course folder in place of
                # /course.
                argv = [
                    self.config["node"],
                    os.path.join(job["course"], ".grading", "library-server.cjs"),
                    functions,
                ]
                env = dict(os.environ, FM_GRADING_COURSE=job["course"], FM_GRADING_IO=io)
                server = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    env=env
                )
            clean = job["clean"]
            env = dict(os.environ)
            env.update(clean.get("env", {}))
            env["FM_GRADING_IO"] = io
            proc = await asyncio.create_subprocess_exec(
                *clean["argv"],
                cwd=clean["cwd"],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE
            )
            try:
                _, err = await asyncio.wait_for(proc.communicate(), clean["timeout"])
                out["exit"] = proc.returncode
                out["stderr"] = err.decode("utf8", "replace")[-4000:]
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
                out["timeout"] = True
            self.tell_done(io, "lib")
        except Exception as e:  # noqa: BLE001
            out["error"] = "%s: %s" % (e.__class__.__name__, e)
        finally:
            if server is not None:
                if server.returncode is None:
                    server.kill()
                try:
                    _, err = await asyncio.wait_for(server.communicate(), 10)
                    out["server"] = err.decode("utf8", "replace")[-2000:]
                except asyncio.TimeoutError:
                    pass
            if io is not None:
                for log_name in ("server.log",):
                    try:
                        with open(os.path.join(io, log_name), errors="replace") as f:
                            out["server_log"] = f.read()[-4000:]
                    except OSError:
                        pass
                shutil.rmtree(io, ignore_errors=True)
            if slot is not None:
                slot.release(out)
            self.remove_cgroups()
        out["seconds"] = time.monotonic() - t0
        return out

    async def grade(self, job):
        if job.get("kind") == "library":
            return await self.grade_library(job)
        t0 = time.monotonic()
        out = {"student": job.get("student"), "notebooks": []}
        slot = None
        try:
            if self.config.get("jail", True):
                slot = Slot(self.config["slots"], self.config["lock_dir"])
                slot.kill_all()  # nothing of an earlier run may linger
            for nb in job["notebooks"]:
                out["notebooks"].append(await self.grade_notebook(job, nb, slot))
        except Exception as e:  # noqa: BLE001
            out["error"] = "%s: %s" % (e.__class__.__name__, e)
        finally:
            if slot is not None:
                slot.release(out)
            self.remove_cgroups()
        out["seconds"] = time.monotonic() - t0
        return out

    async def close(self):
        for ref in self.references.values():
            if ref.kernel is not None:
                await ref.kernel.stop()


async def main_async(config):
    session = Session(config)
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader(limit=1 << 30)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            if not line.strip():
                continue
            job = json.loads(line)
            result = await session.grade(job)
            sys.stdout.write(json.dumps(result) + "\n")
            sys.stdout.flush()
    finally:
        await session.close()


def main():
    if len(sys.argv) != 3 or sys.argv[1] != "--config":
        print("usage: session.py --config <config.json>", file=sys.stderr)
        return 2
    with open(sys.argv[2]) as f:
        config = json.load(f)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    asyncio.run(main_async(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
