"""Runs one command (the student's kernel, or their library's tests) in a throwaway jail.

Used by the autograder (scripts/grading/session.py, scripts/grade.mjs); not meant to be run by hand:

    sandbox.py --spec <spec.json> -- <command ...>

The spec (JSON, written by the grader into its own private folder):
    uid, gid, user        the unprivileged account the command runs as (fm-grader-N, one per slot)
    course                a host folder copied into the jail as /course (the student's course)
    node_modules          a host folder bound read-only at /course/node_modules (the packages)
    io                    a host folder bound at /run/io (pipes to the clean checker, logs)
    tmpfs_mb              size of the jail's own file system (/course, /tmp): all it can write
    limits                {nproc, nofile, fsize_mb, cpu_s, memory_mb}
    cgroup                name of the cgroup to create (memory and process count), or null
    connection            true: copy the command's {connection_file} argument into the jail
    env                   extra environment variables (FM_BACKEND, FM_THREADS, ...)

What the command sees: a new mount namespace whose root is a size-limited tmpfs holding /usr
(read-only), a minimal /etc, /dev/{null,zero,full,random,urandom}, its own /proc, /tmp, /course
and /run/io, and nothing else: not the course folder it was copied from, not the grading folder,
not /root, /home, /work or the host's /tmp. A new PID namespace: it sees only its own processes,
and when it ends every process it started ends with it, detached or not (the namespace's init is
this script, which exits when the command does). It runs as `uid`, with no supplementary groups,
no new privileges, and limits on processes, open files, file size, CPU time and (through a cgroup
when the machine has one, else RLIMIT_DATA) memory.

The host-side process (the one Jupyter starts and signals) forwards SIGINT/SIGTERM/SIGHUP to the
jail; if it is killed, the jail's init gets SIGKILL (PR_SET_PDEATHSIG): the namespace goes too.
Exit codes: the command's, 125 when the jail could not be built (the reason on stderr).
"""

import ctypes
import json
import os
import resource
import shutil
import signal
import sys

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384
MS_PRIVATE = 1 << 18
PR_SET_PDEATHSIG = 1
PR_SET_NO_NEW_PRIVS = 38

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_ulong,
    ctypes.c_char_p,
]


def check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, "%s: %s" % (what, os.strerror(err)))


def mount(source, target, fstype, flags, data=None):
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    check(
        libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)),
        "mount %s on %s" % (source, target),
    )


def bind(source, target, read_only):
    mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_REC)


def prctl(option, value):
    check(libc.prctl(option, ctypes.c_ulong(value), 0, 0, 0), "prctl %d" % option)


SYSTEM_DIRS = ["usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"]
ETC_FILES = [
    "ld.so.cache",
    "ld.so.conf",
    "nsswitch.conf",
    "localtime",
    "hosts",
    "os-release",
    "mime.types",
]
DEVICES = ["null", "zero", "full", "random", "urandom"]


def build_root(spec, root):
    """The jail's file system, in this (new) mount namespace; `root`: its mount point (host)."""
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount(
        "tmpfs",
        root,
        "tmpfs",
        MS_NOSUID | MS_NODEV,
        "size=%dm,mode=755" % int(spec.get("tmpfs_mb", 1024)),
    )
    for d in SYSTEM_DIRS:
        host = "/" + d
        if os.path.islink(host):
            os.symlink(os.readlink(host), os.path.join(root, d))
        elif os.path.isdir(host):
            os.mkdir(os.path.join(root, d))
            bind(host, os.path.join(root, d), True)
    # Node itself, when it is not under /usr (nvm, a tarball in /opt): its folder, read-only, same
    # path.
    node_dir = os.path.dirname(os.path.dirname(os.path.realpath(spec.get("node", "/usr/bin/node"))))
    if not any(node_dir == "/" + d or node_dir.startswith("/" + d + "/") for d in SYSTEM_DIRS):
        target = root + node_dir
        os.makedirs(target, exist_ok=True)
        bind(node_dir, target, True)
    etc = os.path.join(root, "etc")
    os.mkdir(etc)
    for f in ETC_FILES:
        if os.path.isfile("/etc/" + f):
            shutil.copy2("/etc/" + f, os.path.join(etc, f))
    if os.path.isdir("/etc/ld.so.conf.d"):
        shutil.copytree("/etc/ld.so.conf.d", os.path.join(etc, "ld.so.conf.d"))
    with open(os.path.join(etc, "passwd"), "w") as f:
        f.write("root:x:0:0:root:/nonexistent:/usr/sbin/nologin\n")
        f.write(
            "%s:x:%d:%d:autograder:/tmp:/usr/sbin/nologin\n"
            % (spec["user"], spec["uid"], spec["gid"])
        )
    with open(os.path.join(etc, "group"), "w") as f:
        f.write("root:x:0:\n%s:x:%d:\n" % (spec["user"], spec["gid"]))
    dev = os.path.join(root, "dev")
    os.mkdir(dev)
    for d in DEVICES:
        open(os.path.join(dev, d), "w").close()
        bind("/dev/" + d, os.path.join(dev, d), False)
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    os.symlink("/proc/self/fd", os.path.join(dev, "fd"))
    os.mkdir(os.path.join(root, "proc"))
    mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    tmp = os.path.join(root, "tmp")
    os.mkdir(tmp)
    os.chmod(tmp, 0o1777)
    course = os.path.join(root, "course")
    shutil.copytree(
        spec["course"], course, symlinks=True
    )  # a link is copied as a link: it resolves inside the jail
    for dirpath, dirnames, filenames in os.walk(course):
        for name in [dirpath] + [os.path.join(dirpath, f) for f in filenames + dirnames]:
            os.chown(name, spec["uid"], spec["gid"], follow_symlinks=False)
    if spec.get("node_modules"):
        nm = os.path.join(course, "node_modules")
        if os.path.lexists(nm):
            shutil.rmtree(nm) if os.path.isdir(nm) and not os.path.islink(nm) else os.unlink(nm)
        os.mkdir(nm)
        bind(os.path.realpath(spec["node_modules"]), nm, True)
    run = os.path.join(root, "run")
    os.mkdir(run)
    if spec.get("io"):
        os.mkdir(os.path.join(run, "io"))
        bind(spec["io"], os.path.join(run, "io"), False)


def cgroup_paths(name):
    """(memory, pids) cgroup folders for `name` (v1 controllers, else the unified v2 tree) or []."""
    out = []
    for controller in ("memory", "pids"):
        base = "/sys/fs/cgroup/%s" % controller
        if os.path.isdir(base) and os.access(base, os.W_OK):
            out.append((controller, os.path.join(base, name)))
    if (
        not out
        and os.path.isfile("/sys/fs/cgroup/cgroup.controllers")
        and os.access("/sys/fs/cgroup", os.W_OK)
    ):
        out.append(("unified", os.path.join("/sys/fs/cgroup", name)))
    return out


def setup_cgroups(spec, pid):
    limits = spec.get("limits", {})
    made = []
    for kind, path in cgroup_paths(spec["cgroup"]):
        try:
            os.makedirs(path, exist_ok=True)
            if kind in ("memory", "unified") and limits.get("memory_mb"):
                name = "memory.limit_in_bytes" if kind == "memory" else "memory.max"
                with open(os.path.join(path, name), "w") as f:
                    f.write(str(int(limits["memory_mb"]) * 1024 * 1024))
                if kind == "memory" and os.path.exists(
                    os.path.join(path, "memory.memsw.limit_in_bytes")
                ):
                    with open(os.path.join(path, "memory.memsw.limit_in_bytes"), "w") as f:
                        f.write(str(int(limits["memory_mb"]) * 1024 * 1024))
                if kind == "unified" and os.path.exists(os.path.join(path, "memory.swap.max")):
                    with open(os.path.join(path, "memory.swap.max"), "w") as f:
                        f.write("0")
            if kind in ("pids", "unified") and limits.get("nproc"):
                with open(os.path.join(path, "pids.max"), "w") as f:
                    f.write(str(int(limits["nproc"])))
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(pid))
            made.append(kind)
        except OSError:
            pass  # a controller we may not use: the rlimits below still hold
    return made


def drop_and_exec(spec, command, cgroups_made):
    """In the jail's second process: become the student, set the limits, start the command."""
    limits = spec.get("limits", {})
    os.chroot(spec["root"])
    os.chdir("/course")
    os.setgroups([])
    os.setgid(spec["gid"])
    os.setuid(spec["uid"])
    prctl(PR_SET_NO_NEW_PRIVS, 1)
    os.setsid()

    def lim(which, value):
        try:
            soft, hard = resource.getrlimit(which)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(which, (value, value))
        except (ValueError, OSError):
            pass

    lim(resource.RLIMIT_CORE, 0)
    if limits.get("nproc"):
        lim(resource.RLIMIT_NPROC, int(limits["nproc"]))
    if limits.get("nofile"):
        lim(resource.RLIMIT_NOFILE, int(limits["nofile"]))
    if limits.get("fsize_mb"):
        lim(resource.RLIMIT_FSIZE, int(limits["fsize_mb"]) * 1024 * 1024)
    if limits.get("cpu_s"):
        lim(resource.RLIMIT_CPU, int(limits["cpu_s"]))
    if limits.get("memory_mb") and "memory" not in cgroups_made and "unified" not in cgroups_made:
        lim(resource.RLIMIT_DATA, int(limits["memory_mb"]) * 1024 * 1024)
    devnull = os.open("/dev/null", os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open(spec.get("log", "/dev/null"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(log, 1)
    os.dup2(log, 2)
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "LANG": "C.UTF-8",
        "USER": spec["user"],
        "LOGNAME": spec["user"],
    }
    env.update({k: str(v) for k, v in (spec.get("env") or {}).items()})
    os.execve(command[0], command, env)


def forward_signals(pid):
    """Passes Jupyter's interrupt (SIGINT) and stop requests on to `pid`, the next one inwards."""

    def forward(signum, _frame):
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, forward)


def jail_init(spec, command, ready_w):
    """PID 1 of the new namespaces: builds the jail, starts the command, reaps, forwards signals."""
    prctl(
        PR_SET_PDEATHSIG, signal.SIGKILL
    )  # (getppid() is 0 here: the parent is outside the namespace)
    try:
        build_root(spec, spec["root"])
        if spec.get("connection_src"):
            dest = os.path.join(spec["root"], "run", "kernel.json")
            shutil.copyfile(spec["connection_src"], dest)
            os.chown(dest, spec["uid"], spec["gid"])
            os.chmod(dest, 0o600)
    except Exception as e:  # noqa: BLE001 - any failure: say what and stop
        os.write(ready_w, ("jail: %s\n" % e).encode())
        os._exit(125)
    child = os.fork()
    if child == 0:
        try:
            made = setup_cgroups(spec, os.getpid()) if spec.get("cgroup") else []
            # ready_w is closed by exec (Python's pipes are close-on-exec): EOF tells the host it
            # started.
            drop_and_exec(spec, command, made)
        except Exception as e:  # noqa: BLE001
            try:
                os.write(ready_w, ("start: %s\n" % e).encode())
            except OSError:
                pass
        os._exit(125)
    os.close(ready_w)
    forward_signals(child)
    status = 125
    while True:
        try:
            pid, st = os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child:
            status = os.waitstatus_to_exitcode(st)
            break
    # Leaving PID 1 ends the namespace: the kernel kills everything the command left behind.
    os._exit(status if status >= 0 else 128 - status)


def main():
    argv = sys.argv[1:]
    if "--" not in argv or argv[0] != "--spec":
        print("usage: sandbox.py --spec <spec.json> -- <command ...>", file=sys.stderr)
        return 2
    with open(argv[1]) as f:
        spec = json.load(f)
    command = argv[argv.index("--") + 1 :]
    if spec.get("connection"):
        # Jupyter passes the connection file's host path: the jail gets a copy at /run/kernel.json.
        index = next(i for i, a in enumerate(command) if a.endswith(".json") and os.path.isfile(a))
        spec["connection_src"] = command[index]
        command[index] = "/run/kernel.json"
    if os.geteuid() != 0:
        print(
            "jail: the sandbox needs root (it creates namespaces and drops to %s)" % spec["user"],
            file=sys.stderr,
        )
        return 125
    os.makedirs(spec["root"], exist_ok=True)
    ready_r, ready_w = os.pipe()
    check(libc.unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS), "unshare")
    init = os.fork()
    if init == 0:
        os.close(ready_r)
        jail_init(spec, command, ready_w)
    os.close(ready_w)
    forward_signals(init)
    with os.fdopen(ready_r) as ready:
        problem = ready.read().strip()  # empty: the command was started (exec closed the pipe)
    if problem:
        print(problem, file=sys.stderr)
    while True:
        try:
            _, st = os.waitpid(init, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(st)
    try:
        os.rmdir(spec["root"])
    except OSError:
        pass
    for _, path in cgroup_paths(spec["cgroup"]) if spec.get("cgroup") else []:
        try:
            os.rmdir(path)
        except OSError:
            pass
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main())
