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
// Tested against tslab's real behaviour in tests/kernel.test.ts; tslab is pinned (1.0.22) because
// this wraps one of its internal methods (JupyterHandlerImpl.prototype.handleExecuteImpl).
"use strict";
const fs = require("fs");
const path = require("path");
const util = require("util");

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
  startKernel({ configPath, enableFindLocal: false, jsKernel: false, globalVersion: "" });
  for (const event of Object.keys(before)) {
    for (const listener of process.listeners(event)) {
      if (!before[event].includes(listener)) process.removeListener(event, listener);
    }
  }
  process.on("unhandledRejection", onRejection);
  process.on("rejectionHandled", onRejectionHandled);
  process.on("uncaughtException", onException);
}

if (require.main === module) main();

module.exports = { findCourseRoot, makeStrict, trimStderr, dropInternalFrames };
