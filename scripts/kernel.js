#!/usr/bin/env node
// The course's Jupyter kernel: tslab (TypeScript), started in the course's root folder and strict
// about errors that happen outside a cell's own control flow.
//
// Jupyter (Lab, Notebook, VS Code, nbclient) starts it through the kernelspec written by
// scripts/install-kernel.mjs:  node scripts/kernel.js --config-path <connection file>
//
// 1. Working directory. tslab compiles imported `.ts` files only below the directory it starts in,
//    so the kernel moves to the course root before starting tslab; every notebook then imports the
//    library the same way, `import * as fm from "./src/index";`. The root is the nearest folder at or
//    above Jupyter's starting directory (the notebook's folder) holding this course's package.json
//    (so a second copy of the course uses its own src/), else the folder this launcher lives in.
//    tslab compiles the library again whenever the kernel starts: edit src/, restart the kernel.
//
// 2. Strictness. Plain tslab reports a failing cell only on stderr, and an unhandled promise
//    rejection or an exception thrown from a callback (a timer, an event) does not fail any cell:
//    tslab logs it whenever it happens, often after the cell has finished, where nobody sees it.
//    Here, after each cell the kernel yields to the event loop once more; an unhandled rejection or
//    uncaught exception raised while the cell ran is printed to that cell's stderr and fails it.
//    One raised later, by code still running in the background, is printed when it happens and
//    fails the next cell you run (without running that cell), saying where it came from.
//
// 3. Interrupt (Kernel > Interrupt, and the grader's cell time limit). Jupyter interrupts with
//    SIGINT. Plain tslab stops a cell's synchronous start (vm's breakOnSigint cuts it wherever it
//    is, even half way through a library call), and otherwise only abandons an awaiting cell: its
//    loop goes on in the background. Here a thread of the launcher's own receives SIGINT and counts
//    it in shared memory that the library reads between the steps of its loops
//    (src/core/interrupt.ts): training and sampling stop cleanly at the next step, even inside a
//    synchronous call. When no library loop is running (or one does not stop within 3 s), the
//    signal goes on to tslab as before. See installInterrupt below.
//
// Tested against tslab's real behaviour in tests/kernel.test.ts; tslab is pinned (1.0.22) because
// this wraps one of its internal methods (JupyterHandlerImpl.prototype.handleExecuteImpl).
"use strict";
const fs = require("fs");
const path = require("path");
const util = require("util");
const vm = require("vm");
const { Worker, isMainThread, parentPort, workerData } = require("worker_threads");

const PACKAGE_NAME = "flow-matching-course";
const OWN_ROOT = path.resolve(__dirname, "..");

/** The nearest folder at or above `start` that holds this course (package.json name and src/index.ts). */
function findCourseRoot(start) {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
      if (pkg.name === PACKAGE_NAME && fs.existsSync(path.join(dir, "src", "index.ts"))) return dir;
    } catch {
      // no (readable) package.json here: keep climbing
    }
    if (path.dirname(dir) === dir) return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Unhandled rejections and uncaught exceptions, recorded until a cell reports them.

/** Problems not yet reported: { kind, error, cell } with `cell` the execution count it belongs to. */
let pending = [];
/** The record of each rejected promise, so that a rejection handled a moment later is forgotten. */
const byPromise = new WeakMap();
/** Execution count of the cell running now (0: none), and of the last one that finished. */
let runningCell = 0;
let lastCell = 0;

function record(kind, error, promise) {
  const entry = { kind, error, cell: runningCell || lastCell, during: runningCell !== 0 };
  pending.push(entry);
  if (promise) byPromise.set(promise, entry);
  if (!entry.during) {
    // Nothing is running: say so now. (It shows under the cell that last wrote output, in front
    // ends that still display late output; the next cell fails with the same message anyway.)
    console.error(`${describe(entry)}\nIt will fail the next cell you run.`);
  }
}

function onRejection(reason, promise) {
  record("Unhandled promise rejection", reason, promise);
}
function onRejectionHandled(promise) {
  const entry = byPromise.get(promise);
  if (entry) pending = pending.filter((e) => e !== entry);
}
function onException(error) {
  record("Uncaught exception", error, null);
}

/** Stack-trace lines inside tslab, this launcher or Node itself: noise under a student's error. */
const INTERNAL_FRAME = /^\s+at .*(node_modules[\\/]tslab[\\/]|scripts[\\/]kernel\.js|node:vm|node:internal|sigintHandlersWrap).*$\n?/gm;

function dropInternalFrames(text) {
  return text.replace(INTERNAL_FRAME, "");
}

function describe(entry) {
  const inspected = dropInternalFrames(util.inspect(entry.error));
  const text = entry.error instanceof Error ? inspected : `${inspected} (not an Error)`;
  const where = entry.during
    ? "while this cell ran"
    : entry.cell
      ? `after cell [${entry.cell}] had finished (from code still running in the background)`
      : "before any cell ran";
  return `${entry.kind} ${where}: ${text}`;
}

/**
 * Lets what the cell left due surface before the cell is declared finished: pending rejections
 * (reported once the microtask queue drains), immediates, and zero-delay timers the cell set
 * (ours is set later with the same delay, so theirs run first), then one more turn for what those
 * callbacks throw. Costs about a millisecond per cell.
 */
function settle() {
  return new Promise((resolve) => setImmediate(() => setTimeout(() => setImmediate(resolve), 0)));
}

/** Makes tslab's stderr writer for each cell drop internal stack frames from what it forwards. */
function trimStderr(proto) {
  const original = proto.createWriteToIopub;
  if (typeof original !== "function" || original.__flowMatchingTrim) return;
  function createWriteToIopub(name, writeStream) {
    const write = original.call(this, name, writeStream);
    if (name !== "stderr") return write;
    return (buffer, encoding) => {
      const s = typeof buffer === "string" ? buffer : Buffer.from(buffer).toString("utf8");
      return write(dropInternalFrames(s), encoding);
    };
  }
  createWriteToIopub.__flowMatchingTrim = true;
  proto.createWriteToIopub = createWriteToIopub;
}

/**
 * Wraps tslab's per-cell method. It throws tslab's ExecutionCount object to mark a cell failed
 * (its caller then replies status "error"); we throw the same object.
 */
function makeStrict(proto) {
  const original = proto.handleExecuteImpl;
  if (typeof original !== "function" || original.__flowMatchingStrict) return;

  async function handleExecuteImpl(req, writeStream, writeDisplayData) {
    const earlier = pending;
    pending = [];
    if (earlier.length > 0) {
      // Fail this cell without running it: let tslab set up the cell's output streams and count,
      // with an executor that runs nothing.
      const executor = this.executor;
      this.executor = { execute: async () => true };
      let count;
      try {
        count = await original.call(this, req, writeStream, writeDisplayData);
      } finally {
        this.executor = executor;
      }
      lastCell = this.execCount;
      console.error(
        earlier.map((e) => describe(e)).join("\n") +
          "\nThis cell was not run (the error above came from an earlier cell); run it again.",
      );
      throw count;
    }

    runningCell = this.execCount + 1;
    let count = null;
    let failure = null;
    try {
      count = await original.call(this, req, writeStream, writeDisplayData);
    } catch (e) {
      failure = e;
    }
    try {
      await settle();
    } finally {
      lastCell = this.execCount;
      runningCell = 0;
    }
    const during = pending;
    pending = [];
    if (during.length > 0) {
      console.error(during.map((e) => describe(e)).join("\n"));
      if (failure === null) failure = count;
    }
    if (failure !== null) throw failure;
    return count;
  }
  handleExecuteImpl.__flowMatchingStrict = true;
  proto.handleExecuteImpl = handleExecuteImpl;
}

// ---------------------------------------------------------------------------------------------
// Interrupt (point 3 of the header; tested in tests/interrupt-kernel.test.ts).
//
// Who gets a SIGINT: while vm code runs with breakOnSigint, Node hands the signal to the most
// recently started such run (and to nobody else); otherwise to process.on("SIGINT") listeners. A
// thread of ours (the sentinel) keeps such a run going at all times, waiting, and starts it afresh
// at the beginning of every cell (after tslab has started its own run of the cell: `arm` below), so
// that it, not the cell, receives the signal. The sentinel then
//   1. counts it in shared memory (SIGNALS); the library compares that count with BASE (the count
//      when the running cell began) between the steps of its loops and stops with an
//      InterruptedError;
//   2. if the cell is still running once the library is idle (BUSY = 0 for 0.2 s), or 3 s after
//      the signal, passes the signal on: it steps aside and raises SIGINT again, which then reaches
//      tslab's run of the cell (plain tslab's behaviour: a synchronous loop of the student's own is
//      cut), and it asks the main thread to run tslab's own SIGINT listener (an awaiting cell is
//      abandoned with "Interrupted asynchronously").
// The process keeps no SIGINT listener of its own: libuv's handler would replace Node's, and
// removing a listener would reset SIGINT to "terminate the process".

/** Slots of the shared counters. 0-3 are read by the library (src/core/interrupt.ts SLOT). */
const INTERRUPT = { SIGNALS: 0, BASE: 1, CELL: 2, BUSY: 3, ARM: 8, ARMED: 9, READY: 10, SLOTS: 16 };
const INTERRUPT_KEY = Symbol.for("flow-matching.interrupt");
const ARM_KEY = Symbol.for("flow-matching.arm");
const SENTINEL_ROLE = "flow-matching interrupt sentinel";
/** The library's loops check between steps: this long after going idle, at most this long. */
const IDLE_GRACE_MS = 200;
const STOP_WITHIN_MS = 3000;

/**
 * Sets up the interrupt path for the kernel: call after startKernel (it takes over the SIGINT
 * listener tslab added there) with tslab's JupyterHandlerImpl.prototype. Returns false (and leaves
 * tslab's own handling in place) when the sentinel thread cannot start.
 */
function installInterrupt(proto, tslabListeners) {
  const bytes = INTERRUPT.SLOTS * Int32Array.BYTES_PER_ELEMENT;
  const counters = new Int32Array(new SharedArrayBuffer(bytes));
  for (const listener of tslabListeners) process.removeListener("SIGINT", listener);
  let sentinel;
  try {
    sentinel = new Worker(__filename, { workerData: { role: SENTINEL_ROLE, counters } });
  } catch (err) {
    return restoreTslabInterrupt(tslabListeners, err);
  }
  sentinel.unref();
  // Ready before the first cell can run (the kernel answers nobody until this returns).
  const deadline = Date.now() + 10_000;
  while (Atomics.load(counters, INTERRUPT.READY) === 0 && Date.now() < deadline) {
    Atomics.wait(counters, INTERRUPT.READY, 0, 50);
  }
  if (Atomics.load(counters, INTERRUPT.READY) === 0) {
    void sentinel.terminate();
    const late = new Error("the interrupt thread did not start within 10 s");
    return restoreTslabInterrupt(tslabListeners, late);
  }
  globalThis[INTERRUPT_KEY] = counters;
  sentinel.on("message", (message) => {
    // The signal is passed on: abandon the cell if it still awaits (tslab's listener does that).
    if (message.type === "pass-on" && Atomics.load(counters, INTERRUPT.CELL) === message.cell) {
      for (const listener of tslabListeners) listener("SIGINT");
    }
  });
  sentinel.on("error", (err) => {
    const what = `the kernel's interrupt thread failed: ${err.message}`;
    console.error(`${what}; Interrupt works as in plain tslab`);
  });
  sentinel.on("exit", () => {
    delete globalThis[INTERRUPT_KEY];
    restoreTslabInterrupt(tslabListeners, null);
  });

  // The cell now running, and the signal count when it began.
  let cells = 0;
  const original = proto.handleExecuteImpl;
  proto.handleExecuteImpl = async function handleExecuteImpl(...args) {
    const cell = ++cells;
    Atomics.store(counters, INTERRUPT.BASE, Atomics.load(counters, INTERRUPT.SIGNALS));
    Atomics.store(counters, INTERRUPT.CELL, cell);
    try {
      return await original.apply(this, args);
    } finally {
      if (Atomics.load(counters, INTERRUPT.CELL) === cell) {
        Atomics.store(counters, INTERRUPT.CELL, 0);
      }
      Atomics.notify(counters, INTERRUPT.CELL);
    }
  };

  // tslab runs each cell with vm.runInThisContext(code, { breakOnSigint: true }); the first thing
  // that code now does is ask the sentinel to start its waiting run afresh (to be the later one).
  // (Acknowledged within a millisecond or so; the limit only matters if the sentinel is stuck.)
  globalThis[ARM_KEY] = function arm() {
    const want = Atomics.add(counters, INTERRUPT.ARM, 1) + 1;
    Atomics.notify(counters, INTERRUPT.ARM);
    const until = Date.now() + 2000;
    for (;;) {
      const armed = Atomics.load(counters, INTERRUPT.ARMED);
      if (armed >= want || Date.now() >= until) break;
      Atomics.wait(counters, INTERRUPT.ARMED, armed, 10);
    }
  };
  const runInThisContext = vm.runInThisContext;
  vm.runInThisContext = function (code, options) {
    const cell = options && options.breakOnSigint === true && typeof code === "string";
    if (cell && globalThis[INTERRUPT_KEY]) {
      code = `globalThis[Symbol.for("flow-matching.arm")](); ${code}`;
    }
    return runInThisContext.call(this, code, options);
  };
  return true;
}

function restoreTslabInterrupt(tslabListeners, err) {
  if (err) console.error(`Interrupt works as in plain tslab only: ${err.message}`);
  for (const listener of tslabListeners) {
    if (!process.listeners("SIGINT").includes(listener)) process.on("SIGINT", listener);
  }
  return false;
}

/** The sentinel thread (see the comment above installInterrupt). */
function runSentinel(counters) {
  const S = INTERRUPT;
  /** The signal being handled: the cell it arrived in, when, and since when the library is idle. */
  let pending = null;
  /** We raised SIGINT ourselves until then: the run that catches it only sees our own signal. */
  let echoUntil = 0;
  const interrupted = (err) => err && err.code === "ERR_SCRIPT_EXECUTION_INTERRUPTED";

  function onSignal() {
    Atomics.add(counters, S.SIGNALS, 1);
    Atomics.notify(counters, S.SIGNALS);
    const cell = Atomics.load(counters, S.CELL);
    const now = Date.now();
    pending = cell === 0 ? null : { cell, at: now, idleSince: now };
  }

  // The waiting run: acknowledges the arm request it was started for, then waits for the next one.
  // Returns "arm" (start afresh) or "pass-on"; a SIGINT ends it with an exception instead.
  globalThis.__sentinelWatch = function watch() {
    Atomics.store(counters, S.ARMED, Atomics.load(counters, S.ARM));
    Atomics.notify(counters, S.ARMED);
    for (;;) {
      const arm = Atomics.load(counters, S.ARM);
      Atomics.wait(counters, S.ARM, arm, 50);
      if (Atomics.load(counters, S.ARM) !== arm) return "arm";
      if (pending === null) continue;
      const now = Date.now();
      if (Atomics.load(counters, S.CELL) !== pending.cell) pending = null;
      else if (Atomics.load(counters, S.BUSY) > 0) pending.idleSince = now;
      else if (now - pending.idleSince >= IDLE_GRACE_MS) return "pass-on";
      if (pending !== null && now - pending.at >= STOP_WITHIN_MS) return "pass-on";
    }
  };

  // The outer run: keeps Node's signal thread registered while the waiting run restarts (so SIGINT
  // is never left to its default, "terminate"), and receives the signal when nothing later runs.
  globalThis.__sentinelLoop = function loop() {
    Atomics.store(counters, S.READY, 1);
    Atomics.notify(counters, S.READY);
    for (;;) {
      let outcome;
      try {
        outcome = vm.runInThisContext("globalThis.__sentinelWatch()", { breakOnSigint: true });
      } catch (err) {
        if (!interrupted(err)) throw err;
        onSignal();
        continue;
      }
      if (outcome === "pass-on") {
        const { cell } = pending;
        pending = null;
        echoUntil = Date.now() + 1000;
        parentPort.postMessage({ type: "pass-on", cell });
        process.kill(process.pid, "SIGINT");
        Atomics.wait(counters, S.SLOTS - 1, 0, 50); // let it land before waiting again
      }
    }
  };

  for (;;) {
    try {
      vm.runInThisContext("globalThis.__sentinelLoop()", { breakOnSigint: true });
    } catch (err) {
      if (!interrupted(err)) throw err;
      if (Date.now() < echoUntil) echoUntil = 0; // our own signal, passed on with nobody to take it
      else onSignal();
    }
  }
}

function main() {
  const i = process.argv.indexOf("--config-path");
  const configPath = i >= 0 ? process.argv[i + 1] : undefined;
  if (!configPath) {
    console.error("usage: node scripts/kernel.js --config-path <connection file>  (Jupyter starts this for you)");
    process.exit(2);
  }
  process.chdir(findCourseRoot(process.cwd()) || OWN_ROOT);

  const { JupyterHandlerImpl } = require("tslab/dist/jupyter");
  const { startKernel } = require("tslab/dist/main");
  makeStrict(JupyterHandlerImpl.prototype);
  trimStderr(JupyterHandlerImpl.prototype);

  // startKernel adds its own handlers, which only log; replace them with ours.
  const before = {
    unhandledRejection: process.listeners("unhandledRejection"),
    uncaughtException: process.listeners("uncaughtException"),
  };
  const sigintBefore = process.listeners("SIGINT");
  startKernel({ configPath, enableFindLocal: false, jsKernel: false, globalVersion: "" });
  const tslabSigint = process.listeners("SIGINT").filter((l) => !sigintBefore.includes(l));
  installInterrupt(JupyterHandlerImpl.prototype, tslabSigint);
  for (const event of Object.keys(before)) {
    for (const listener of process.listeners(event)) {
      if (!before[event].includes(listener)) process.removeListener(event, listener);
    }
  }
  process.on("unhandledRejection", onRejection);
  process.on("rejectionHandled", onRejectionHandled);
  process.on("uncaughtException", onException);
}

if (!isMainThread && workerData && workerData.role === SENTINEL_ROLE) {
  runSentinel(workerData.counters);
} else if (require.main === module) {
  main();
}

module.exports = { findCourseRoot, makeStrict, trimStderr, dropInternalFrames };
