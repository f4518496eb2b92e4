#!/usr/bin/env node
// The course's Jupyter kernel: tslab (TypeScript), started in the root folder of the course copy
// the notebook sits in, and made robust to what students do.
//
// Jupyter (Lab, Notebook, VS Code, nbclient) starts it through the kernelspec written by
// scripts/install-kernel.mjs:  node <launcher> --config-path <connection file>
//
// 1. One kernel, any number of course copies. The registered kernelspec runs a copy of this file
//    kept in the Jupyter kernel folder, so it depends on no course copy. Jupyter starts a kernel in
//    the notebook's folder; the launcher looks for the course at or above it (package.json named
//    flow-matching-course next to src/index.ts) and hands over to that copy's scripts/kernel.js,
//    which starts tslab from that copy's node_modules in its root, so that every notebook imports
//    `./src/index` of its own course. A notebook outside any course, or in a copy without
//    node_modules, gets a kernel that answers every cell with an error saying so (run with the
//    tslab of another course copy the launcher knows of). The course runner
//    (scripts/notebooks.mjs) starts this file directly, with the same rules.
//
// 2. No message is lost or thrown. tslab sends every message without waiting; zeromq.js sends up
//    to 512 in a row at once, defers the 513th, and throws EBUSY at any send while one is deferred
//    (a cell printing ~600 lines followed by the next cell of Run All killed the kernel). Here each
//    socket's sends go through a queue: sent at once while the socket accepts them, queued in
//    order while one is deferred. The high-water marks are off, so a slow reader never makes
//    zeromq drop output either.
//
// 3. Errors outside a cell's control flow fail a cell, and only a cell. Plain tslab logs an
//    unhandled rejection or an exception thrown from a callback (a timer, an event) whenever it
//    happens, and the TensorFlow.js wasm backend installs process-wide handlers that re-throw such
//    errors, which kills the kernel. Here the kernel owns those two process events (handlers
//    others install are ignored). After each cell the kernel yields to the event loop once more;
//    an error raised while the cell ran fails it. One raised later, by code still running in the
//    background, is printed when it happens and fails the next cell you run (without running it).
//
// 4. Errors read like TypeScript. A failing cell prints the error's message first, without an
//    excerpt of compiled JavaScript, and stack frames in the library point at src/**/*.ts (line
//    and column, through source maps made on demand) instead of compiled .js files that do not
//    exist. Frames inside tslab, this launcher and Node are dropped.
//
// 5. A failing cell keeps what it ran. The names a cell declared before it threw keep their
//    values and types for later cells; a name the cell never reached is an error that says so.
//
// 6. `{ data }` works for a variable of an earlier cell (tslab 1.0.22 rewrites earlier cells'
//    variables, except in an object shorthand: ReferenceError). Shorthands are written out as
//    `{ data: data }` before tslab compiles the cell.
//
// 7. Interrupt (Kernel > Interrupt, and the grader's cell time limit). Jupyter interrupts with
//    SIGINT. Plain tslab stops a cell's synchronous start (vm's breakOnSigint cuts it wherever it
//    is, even half way through a library call), and otherwise only abandons an awaiting cell: its
//    loop goes on in the background. Here a thread of the launcher's own receives SIGINT and counts
//    it in shared memory that the library reads between the steps of its loops
//    (src/core/interrupt.ts): training and sampling stop cleanly at the next step, even inside a
//    synchronous call. When no library loop is running (or one does not stop within 3 s), the
//    signal goes on to tslab as before. See installInterrupt below.
//
// 8. Printed output travels in few messages. tslab sends every write to stdout or stderr (each
//    console.log line) as its own Jupyter message; a cell printing a few thousand lines quickly
//    passes classic Notebook's default rate limit (1000 messages a second over 3 s), which then
//    drops the rest of the cell's output. Here a write after a quiet spell is sent at once, and
//    writes that follow within 50 ms are joined into one message (sent before anything else the
//    cell shows, and before the cell ends), much as IPython's kernel does. See coalesceOutput.
//
// 9. Shutdown ends the process. After tslab answered a shutdown request and closed its sockets, the
//    process lived on (the interrupt thread's port, or a timer a cell left running) until Jupyter
//    lost patience and sent SIGTERM, 2.5 s later with jupyter_client's defaults: every notebook
//    run, restart and test paid that wait. Here the kernel exits right after closing. See
//    exitOnShutdown.
//
// Tested against tslab's real behaviour in tests/kernel*.test.ts and tests/interrupt*.test.ts;
// tslab is pinned (1.0.22) because this wraps some of its internal methods.
"use strict";
const fs = require("fs");
const path = require("path");
const util = require("util");
const vm = require("vm");
const { Worker, isMainThread, parentPort, workerData } = require("worker_threads");

const PACKAGE_NAME = "flow-matching-course";
const OWN_ROOT = path.resolve(__dirname, "..");
/** Where the registered launcher keeps the course copies it knows of (see install-kernel.mjs). */
const KNOWN_COPIES_FILE = "courses.json";

/**
 * The nearest folder at or above `start` that holds this course (package.json name and
 * src/index.ts).
 */
function findCourseRoot(start) {
  for (let dir = path.resolve(start); ; dir = path.dirname(dir)) {
    if (isCourseRoot(dir)) return dir;
    if (path.dirname(dir) === dir) return null;
  }
}

function isCourseRoot(dir) {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    return pkg.name === PACKAGE_NAME && fs.existsSync(path.join(dir, "src", "index.ts"));
  } catch {
    return false; // no (readable) package.json here
  }
}

/** True when `root` has its packages installed (tslab can start there). */
function isInstalled(root) {
  return fs.existsSync(path.join(root, "node_modules", "tslab", "dist", "main.js"));
}

/** Writes to the kernel's own stderr (Jupyter's log), never to a notebook. */
function log(text) {
  try {
    fs.writeSync(2, `[flow-matching kernel] ${text}\n`);
  } catch {
    // nowhere left to say it
  }
}

// ---------------------------------------------------------------------------------------------
// 2. Sending: one ordered queue per socket.

/** Per socket: { waiting, last, draining } (zeromq's sockets are frozen: the state lives here). */
const sendQueues = new WeakMap();

const reportSendFailure = (err) =>
  log(`could not send a message to Jupyter: ${err && err.message ? err.message : err}`);
const isBusy = (err) => Boolean(err && err.code === "EBUSY");

/**
 * Makes zeromq's `send` (on the prototype holding it; the sockets are frozen) safe to call at any
 * rate without awaiting it: a message goes out at once while zeromq accepts it synchronously; once
 * zeromq defers one (after 512 in a row), this and all later messages of that socket wait in order
 * until it has gone. A send that fails is reported on the kernel's stderr, never thrown into tslab.
 * Returns a promise per message that settles once it is sent.
 */
function queueSends(socket) {
  let proto = Object.getPrototypeOf(socket);
  while (proto && !Object.prototype.hasOwnProperty.call(proto, "send"))
    proto = Object.getPrototypeOf(proto);
  if (!proto) throw new Error("zeromq socket without a send method (tslab's zeromq changed?)");
  if (!proto.send.__flowMatchingQueued) {
    const send = proto.send;
    const queuedSend = function (message) {
      let q = sendQueues.get(this);
      if (!q) sendQueues.set(this, (q = { waiting: [], last: Promise.resolve(), draining: false }));
      if (q.waiting.length === 0) {
        try {
          return hand(this, q, message);
        } catch (err) {
          if (!isBusy(err)) {
            reportSendFailure(err);
            return Promise.resolve();
          }
        }
      }
      return new Promise((done) => {
        q.waiting.push({ message, done });
        if (!q.draining) drain(this, q);
      });
    };
    /**
     * Hands one message to zeromq (throws EBUSY synchronously while a deferred send is pending).
     */
    const hand = (sock, q, message) => {
      const sent = send.call(sock, message);
      q.last = sent;
      return sent.then(undefined, reportSendFailure);
    };
    const drain = async (sock, q) => {
      q.draining = true;
      try {
        while (q.waiting.length > 0) {
          await q.last.then(undefined, () => {});
          const { message, done } = q.waiting[0];
          try {
            const sent = hand(sock, q, message);
            q.waiting.shift();
            sent.then(done);
          } catch (err) {
            if (isBusy(err)) {
              await new Promise((resolve) => setImmediate(resolve));
              continue;
            }
            q.waiting.shift();
            reportSendFailure(err);
            done();
          }
        }
      } finally {
        q.draining = false;
      }
    };
    queuedSend.__flowMatchingQueued = true;
    Object.defineProperty(proto, "send", {
      value: queuedSend,
      writable: false,
      enumerable: false,
      configurable: true,
    });
  }
  // 0 = no limit: a publisher at its high-water mark silently drops messages for that reader.
  if ("sendHighWaterMark" in socket) socket.sendHighWaterMark = 0;
}

/**
 * Queues the sends of every socket tslab's server binds (it binds each one right after creating
 * it).
 */
function queueServerSends(ZmqServer) {
  const proto = ZmqServer.prototype;
  const original = proto.bindSocket;
  if (typeof original !== "function" || original.__flowMatchingQueued) return;
  function bindSocket(sock, port) {
    queueSends(sock);
    return original.call(this, sock, port);
  }
  bindSocket.__flowMatchingQueued = true;
  proto.bindSocket = bindSocket;
}

// ---------------------------------------------------------------------------------------------
// 3. Unhandled rejections and uncaught exceptions, recorded until a cell reports them.

/**
 * Problems not yet reported: { kind, error, cell } with `cell` the execution count it belongs to.
 */
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

const OWN_HANDLERS = { unhandledRejection: onRejection, uncaughtException: onException };

/**
 * Keeps the kernel the only listener of `uncaughtException` and `unhandledRejection`: listeners
 * others add (tslab logs, the wasm backend re-throws, which kills the process) are ignored, and
 * ours cannot be removed (the wasm backend's dispose removes every listener).
 */
function ownProcessErrors() {
  if (process.on.__flowMatchingOwned) return;
  const owned = (event) => Object.prototype.hasOwnProperty.call(OWN_HANDLERS, event);
  const addOurs = process.on.bind(process);
  const removeAll = process.removeAllListeners.bind(process);
  for (const event of Object.keys(OWN_HANDLERS)) {
    removeAll(event);
    addOurs(event, OWN_HANDLERS[event]);
  }
  const adding = ["on", "addListener", "prependListener", "once", "prependOnceListener"];
  for (const method of [...adding, "off", "removeListener"]) {
    const original = process[method];
    process[method] = function (event, listener) {
      if (!owned(event)) return original.call(this, event, listener);
      if (adding.includes(method) && listener !== OWN_HANDLERS[event]) {
        // Not silent: Jupyter's log says whose handler was left out.
        const from = ((new Error().stack || "").split("\n")[2] || "").trim();
        if (!/node_modules[\\/]tslab[\\/]/.test(from)) {
          log(`the kernel handles '${event}' itself; a listener added ${from} is ignored`);
        }
      }
      return this;
    };
    process[method].__flowMatchingOwned = true;
  }
  process.removeAllListeners = function (event) {
    if (event !== undefined && owned(event)) return this;
    removeAll(...arguments);
    if (event === undefined) for (const e of Object.keys(OWN_HANDLERS)) addOurs(e, OWN_HANDLERS[e]);
    return this;
  };
}

/** Stack-trace lines inside tslab, this launcher or Node itself: noise under a student's error. */
const INTERNAL_FRAME = new RegExp(
  String.raw`^\s+at .*(node_modules[\\/]tslab[\\/]|scripts[\\/]kernel\.js|node:vm|node:internal|` +
    String.raw`sigintHandlersWrap).*$\n?`,
  "gm",
);

function dropInternalFrames(text) {
  return text.replace(INTERNAL_FRAME, "");
}

function describe(entry) {
  const inspected = tidyErrorText(util.inspect(entry.error));
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

// ---------------------------------------------------------------------------------------------
// 4. Error text: message first, TypeScript locations.

/**
 * The JavaScript tslab compiled for each library file, by the (non-existent) .js path it ran as.
 */
const compiledSources = new Map();
/** Per .js path: a function (line, column) -> { line, column } in the .ts file, or null. */
const tsPositionCache = new Map();

/**
 * Records the code of every compiled module whose .js file is not on disk but whose .ts file is.
 */
function recordCompiledSources() {
  const Module = require("module");
  const original = Module.prototype._compile;
  if (original.__flowMatchingRecorded) return;
  function _compile(content, filename) {
    if (typeof filename === "string" && filename.endsWith(".js") && !fs.existsSync(filename)) {
      if (fs.existsSync(filename.slice(0, -3) + ".ts")) compiledSources.set(filename, content);
    }
    return original.apply(this, arguments);
  }
  _compile.__flowMatchingRecorded = true;
  Module.prototype._compile = _compile;
}

/** Cells run through vm.runInThisContext; without displayErrors Node prepends no code excerpt. */
function noErrorExcerpts() {
  const vm = require("vm");
  const original = vm.runInThisContext;
  if (original.__flowMatchingPlain) return;
  function runInThisContext(code, options) {
    const plain =
      options && typeof options === "object"
        ? { ...options, displayErrors: false }
        : { displayErrors: false };
    return original.call(
      this,
      code,
      typeof options === "string" ? { filename: options, displayErrors: false } : plain,
    );
  }
  runInThisContext.__flowMatchingPlain = true;
  vm.runInThisContext = runInThisContext;
}

const BASE64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/**
 * A source map's `mappings`, decoded: per generated line, segments [column, source line, source
 * column].
 */
function decodeMappings(mappings) {
  const lines = [];
  let sourceLine = 0;
  let sourceColumn = 0;
  for (const lineText of mappings.split(";")) {
    const segments = [];
    let column = 0;
    for (const segment of lineText ? lineText.split(",") : []) {
      const fields = [];
      let value = 0;
      let shift = 0;
      for (const ch of segment) {
        const digit = BASE64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) {
          shift += 5;
        } else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      column += fields[0];
      if (fields.length >= 4) {
        sourceLine += fields[2];
        sourceColumn += fields[3];
        segments.push([column, sourceLine, sourceColumn]);
      }
    }
    lines.push(segments);
  }
  return lines;
}

/** The source position of a generated (0-based) position: the last segment at or before it. */
function lookup(lines, line, column) {
  const segments = lines[line];
  if (!segments || segments.length === 0) return null;
  let best = segments[0];
  for (const s of segments) {
    if (s[0] > column) break;
    best = s;
  }
  return { line: best[1], column: best[2] };
}

let typescript = null;
function tslabTypescript() {
  if (!typescript) {
    const tslabDir = path.dirname(require.resolve("tslab/package.json"));
    typescript = require(require.resolve("@tslab/typescript-for-tslab", { paths: [tslabDir] }));
  }
  return typescript;
}

const MAP_COMMENT = /\n?\/\/# sourceMappingURL=\S*\s*$/;

/**
 * Maps positions in tslab's JavaScript of a library file back to its .ts source. tslab compiles a
 * file to an ES module and that to CommonJS; the same two steps are repeated here with source maps,
 * and used only when they reproduce tslab's code exactly. Null when they do not.
 */
function tsPositions(jsPath) {
  if (tsPositionCache.has(jsPath)) return tsPositionCache.get(jsPath);
  let result = null;
  try {
    const ts = tslabTypescript();
    const tsPath = jsPath.slice(0, -3) + ".ts";
    const base = {
      target: ts.ScriptTarget.ES2022,
      esModuleInterop: true,
      newLine: ts.NewLineKind.LineFeed,
      noImplicitUseStrict: true,
    };
    const first = ts.transpileModule(fs.readFileSync(tsPath, "utf8"), {
      fileName: tsPath,
      compilerOptions: {
        ...base,
        module: ts.ModuleKind.ESNext,
        experimentalDecorators: true,
        jsx: ts.JsxEmit.React,
        sourceMap: true,
      },
    });
    const esm = first.outputText.replace(MAP_COMMENT, "\n");
    const second = ts.transpileModule(esm, {
      fileName: "custom.js",
      compilerOptions: { ...base, module: ts.ModuleKind.CommonJS, sourceMap: true },
    });
    if (second.outputText.replace(MAP_COMMENT, "\n") === compiledSources.get(jsPath)) {
      const toEsm = decodeMappings(JSON.parse(second.sourceMapText).mappings);
      const toTs = decodeMappings(JSON.parse(first.sourceMapText).mappings);
      result = (line, column) => {
        const mid = lookup(toEsm, line, column);
        return mid && lookup(toTs, mid.line, mid.column);
      };
    }
  } catch {
    result = null;
  }
  tsPositionCache.set(jsPath, result);
  return result;
}

/**
 * `<file>.js:<line>:<column>` of a compiled library file -> `<file>.ts:<line>:<column>` (1-based).
 */
const COMPILED_LOCATION = /([^\s()]+\.js):(\d+):(\d+)/g;

function toTsLocations(text) {
  if (compiledSources.size === 0 || !text.includes(".js:")) return text;
  return text.replace(COMPILED_LOCATION, (whole, file, line, column) => {
    if (!compiledSources.has(file)) return whole;
    const tsFile = file.slice(0, -3) + ".ts";
    const map = tsPositions(file);
    const at = map && map(Number(line) - 1, Number(column) - 1);
    return at ? `${tsFile}:${at.line + 1}:${at.column + 1}` : tsFile;
  });
}

/** What the kernel prints of an error: no internal frames, TypeScript locations. */
function tidyErrorText(text) {
  return toTsLocations(dropInternalFrames(text));
}

/** Makes tslab's stderr writer for each cell tidy the error text it forwards. */
function trimStderr(proto) {
  const original = proto.createWriteToIopub;
  if (typeof original !== "function" || original.__flowMatchingTrim) return;
  function createWriteToIopub(name, writeStream) {
    const write = original.call(this, name, writeStream);
    if (name !== "stderr") return write;
    return (buffer, encoding) => {
      const s = typeof buffer === "string" ? buffer : Buffer.from(buffer).toString("utf8");
      return write(tidyErrorText(s), encoding);
    };
  }
  createWriteToIopub.__flowMatchingTrim = true;
  proto.createWriteToIopub = createWriteToIopub;
}

// ---------------------------------------------------------------------------------------------
// 5 and 6. What tslab compiles: shorthands written out, declarations of a failed cell kept.

/** The latest conversion tslab made of a cell: { declOutput, ran } (ran: it had code to run). */
let lastConversion = null;
/**
 * Declarations of a cell that failed after it started (used instead of tslab's, which drops them).
 */
let carriedDecl = null;

/**
 * `{ a, b: 1, c }` -> `{ a: a, b: 1, c: c }` in object literals (also in destructuring assignments,
 * where `{ a = 1 }` becomes `{ a: a = 1 }`): the same meaning, and tslab then rewrites `a` when it
 * names a variable of an earlier cell. Returns the new text and the insertions made (offset,
 * length).
 */
function expandShorthands(src) {
  if (!src.includes("{")) return { text: src, insertions: [] };
  const ts = tslabTypescript();
  const file = ts.createSourceFile("cell.ts", src, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
  const insertions = [];
  const visit = (node) => {
    if (ts.isShorthandPropertyAssignment(node)) {
      const offset = node.name.end;
      insertions.push({
        offset,
        line: file.getLineAndCharacterOfPosition(offset).line,
        text: `: ${node.name.text}`,
      });
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  if (insertions.length === 0) return { text: src, insertions };
  insertions.sort((a, b) => a.offset - b.offset);
  let text = "";
  let at = 0;
  for (const ins of insertions) {
    text += src.slice(at, ins.offset) + ins.text;
    at = ins.offset;
  }
  return { text: text + src.slice(at), insertions };
}

/**
 * Moves a diagnostic position ({ offset, line, character }) from the expanded cell back to the
 * cell. A position in an inserted `: name` lands on the shorthand's name.
 */
function unexpand(pos, insertions) {
  if (!pos || insertions.length === 0) return pos;
  let before = 0; // length of the insertions before this one, in the expanded text
  let shift = 0; // how far the position moves back in the text
  let columnShift = 0; // ... and on its line (insertions hold no line break)
  for (const ins of insertions) {
    const start = ins.offset + before;
    if (pos.offset <= start) break;
    const k = pos.offset - start;
    if (k < ins.text.length) {
      const name = ins.text.length - 2; // ": name"
      const target = k >= 2 ? ins.offset - name + (k - 2) : ins.offset;
      const delta = pos.offset - target;
      return { ...pos, offset: target, character: pos.character - (delta - shift) - columnShift };
    }
    shift += ins.text.length;
    if (ins.line === pos.line) columnShift += ins.text.length;
    before += ins.text.length;
  }
  return { ...pos, offset: pos.offset - shift, character: pos.character - columnShift };
}

/**
 * Wraps tslab's converter: shorthands expanded, carried declarations used, conversions remembered.
 */
function wrapConverter(conv) {
  const { convert, inspect, complete } = conv;
  const decl = (prevDecl) => (carriedDecl !== null ? carriedDecl : prevDecl);
  conv.convert = function (prevDecl, src) {
    const { text, insertions } = expandShorthands(src);
    const out = convert.call(this, decl(prevDecl), text);
    for (const d of out.diagnostics || []) {
      if (d.fileName) continue; // in another file (the library), not in the cell
      d.start = unexpand(d.start, insertions);
      d.end = unexpand(d.end, insertions);
    }
    lastConversion = {
      declOutput: out.declOutput,
      ran: !(out.diagnostics && out.diagnostics.length) && !!out.output,
    };
    return out;
  };
  conv.inspect = function (prevDecl, src, position) {
    return inspect.call(this, decl(prevDecl), src, position);
  };
  conv.complete = function (prevDecl, src, position) {
    return complete.call(this, decl(prevDecl), src, position);
  };
  return conv;
}

function wrapCreateConverter(converterModule) {
  const original = converterModule.createConverter;
  if (original.__flowMatchingWrapped) return;
  const createConverter = (options) => wrapConverter(original(options));
  createConverter.__flowMatchingWrapped = true;
  converterModule.createConverter = createConverter;
}

/**
 * The cells' view of earlier cells' variables (`exports.x` in tslab's compiled code), watched:
 * per cell, how often each name is assigned (tslab's code first sets every name the cell declares
 * to undefined, then each one when its declaration runs), and which names a failed cell declared
 * but never reached: reading one of those is an error that says so.
 */
function watchCellVariables(tslabGlobals) {
  const inner = tslabGlobals.exports;
  const assigned = new Map();
  const unreached = new Map(); // name -> execution count of the failed cell
  const proxy = new Proxy(inner, {
    get(target, name, receiver) {
      if (unreached.has(name)) {
        const cell = unreached.get(name);
        throw new ReferenceError(
          `${String(name)} is not defined: cell [${cell}] declares it but failed before ` +
            "reaching that line; " +
            `run cell [${cell}] again once it is fixed`,
        );
      }
      return Reflect.get(target, name, receiver === proxy ? target : receiver);
    },
    set(target, name, value) {
      assigned.set(name, (assigned.get(name) || 0) + 1);
      unreached.delete(name);
      return Reflect.set(target, name, value);
    },
    defineProperty(target, name, attributes) {
      unreached.delete(name);
      return Reflect.defineProperty(target, name, attributes);
    },
  });
  tslabGlobals.exports = proxy;
  return {
    startCell() {
      assigned.clear();
    },
    /**
     * After a failed cell that ran: the names it declared (assigned once, to undefined) but never
     * set.
     */
    failedCell(cell) {
      for (const [name, times] of assigned) if (times < 2) unreached.set(name, cell);
      assigned.clear();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// The strict cell: wraps tslab's per-cell method.

/**
 * Wraps tslab's per-cell method. It throws tslab's ExecutionCount object to mark a cell failed
 * (its caller then replies status "error"); we throw the same object.
 */
function makeStrict(proto, variables = null) {
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
    lastConversion = null;
    if (variables) variables.startCell();
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
    const conversion = lastConversion;
    if (failure === null) {
      carriedDecl = null; // tslab now holds this cell's declarations itself
    } else if (conversion && conversion.ran) {
      carriedDecl = conversion.declOutput || "";
      if (variables) variables.failedCell(this.execCount);
    }
    if (failure !== null) throw failure;
    return count;
  }
  handleExecuteImpl.__flowMatchingStrict = true;
  proto.handleExecuteImpl = handleExecuteImpl;
}

// ---------------------------------------------------------------------------------------------
// Interrupt (point 7 of the header; tested in tests/interrupt-kernel.test.ts).
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
  // Only now: a "message" listener refs the thread's port again, which kept the process alive after
  // a shutdown request.
  sentinel.unref();

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
      if (Date.now() < echoUntil)
        echoUntil = 0; // our own signal, passed on with nobody to take it
      else onSignal();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 8. Output in few messages.

/** The longest a write waits to be joined with the next ones (IPython waits 200 ms). */
const STREAM_FLUSH_MS = 50;
/** Text of one stream held at most before it is sent anyway. */
const STREAM_MAX_CHARS = 1 << 20;

/**
 * A stream writer that sends at most one message per STREAM_FLUSH_MS: a write after a quiet spell
 * goes out at once (a line printed before a long computation shows before it), and writes that
 * follow sooner are joined, to be sent when the spell is over (checked on every write and by a
 * timer), when another stream or a display comes next, past STREAM_MAX_CHARS, or on flush().
 */
function joinedStreams(writeStream) {
  let name = null;
  let parts = [];
  let size = 0;
  let lastSent = -Infinity;
  let timer = null;
  const send = (stream, text) => {
    lastSent = Date.now();
    writeStream(stream, text);
  };
  const flush = () => {
    if (timer !== null) {
      clearTimeout(timer);
      timer = null;
    }
    if (parts.length === 0) return;
    const [stream, text] = [name, parts.join("")];
    name = null;
    parts = [];
    size = 0;
    send(stream, text);
  };
  const write = (stream, text) => {
    if (typeof text !== "string" || text.length === 0) return;
    if (parts.length > 0 && stream !== name) flush();
    const quiet = Date.now() - lastSent;
    if (parts.length === 0 && quiet >= STREAM_FLUSH_MS) {
      send(stream, text);
      return;
    }
    name = stream;
    parts.push(text);
    size += text.length;
    if (size >= STREAM_MAX_CHARS || quiet >= STREAM_FLUSH_MS) flush();
    else if (timer === null) timer = setTimeout(flush, STREAM_FLUSH_MS - quiet);
  };
  return { write, flush };
}

/**
 * Joins each cell's printed output into few messages: the cell's stream writer is wrapped (and so
 * process.stdout/stderr, which tslab points at it), displays send the text before them first, and
 * the cell's reply waits for the rest. Output that code still running after its cell prints keeps
 * going to that cell, joined the same way, and is sent before the next cell starts.
 */
function coalesceOutput(proto) {
  const original = proto.handleExecute;
  if (typeof original !== "function" || original.__flowMatchingJoined) return;
  let previous = null;
  async function handleExecute(req, writeStream, writeDisplayData) {
    if (previous !== null) previous.flush();
    const out = joinedStreams(writeStream);
    previous = out;
    const display = (data, update) => {
      out.flush();
      return writeDisplayData(data, update);
    };
    try {
      return await original.call(this, req, out.write, display);
    } finally {
      out.flush();
    }
  }
  handleExecute.__flowMatchingJoined = true;
  proto.handleExecute = handleExecute;
}

// ---------------------------------------------------------------------------------------------
// 9. Shutdown.

/** How long the shutdown reply and the last status get to leave before the process exits. */
const EXIT_AFTER_CLOSE_MS = 200;

/**
 * Makes the server's close (tslab calls it once it has answered a shutdown request) end the
 * process.
 */
function exitOnShutdown(ZmqServer) {
  const proto = ZmqServer.prototype;
  const original = proto.close;
  if (typeof original !== "function" || original.__flowMatchingExit) return;
  function close() {
    try {
      return original.call(this);
    } finally {
      setTimeout(() => process.exit(0), EXIT_AFTER_CLOSE_MS);
    }
  }
  close.__flowMatchingExit = true;
  proto.close = close;
}

// ---------------------------------------------------------------------------------------------
// 10. The library compiled once, not at every kernel start.

/** Bumped when what an entry holds, or how its key is made, changes. */
const COMPILE_CACHE_FORMAT = 1;
/** Key folders kept in the cache (one per version of the library and its packages) ... */
const COMPILE_CACHE_KEYS_KEPT = 6;
/** ... and a folder written to in the last hour is kept too (another kernel may be using it). */
const COMPILE_CACHE_KEEP_RECENT_MS = 3600_000;
const CONVERT_DIAGNOSTICS =
  "const diag = convertDiagnostics(getPreEmitDiagnosticsWithDependencies(builder, srcFile));";
const CONVERT_EMIT = "builder.emit(builder.getSourceFile(dep), ";
const CONVERT_COMMONJS = "data: esModuleToCommonJSModule(data, transpileTarget),";

/**
 * Where this course copy keeps its compiled library: node_modules/.cache, next to its packages, or
 * the folder FM_COMPILE_CACHE names; null for FM_COMPILE_CACHE=off.
 */
function compileCacheDir(root, env = process.env) {
  const setting = env.FM_COMPILE_CACHE;
  if (setting === "off") return null;
  if (setting) return path.resolve(root, setting);
  return path.join(root, "node_modules", ".cache", "flow-matching-kernel");
}

function occurrences(text, part) {
  return text.split(part).length - 1;
}

/**
 * Loads tslab's converter with three calls routed through `cache` (see compileCache): the type
 * check of a cell's imported files, their emit, and tslab's CommonJS step for each. Falls back to
 * tslab's own converter, with a line in the kernel's log, when the converter's code is not the one
 * this was written for.
 */
function loadConverter(cache) {
  const file = require.resolve("tslab/dist/converter");
  if (!cache || require.cache[file]) return require(file);
  const source = fs.readFileSync(file, "utf8");
  const head = '"use strict";';
  if (
    !source.startsWith(head) ||
    occurrences(source, CONVERT_DIAGNOSTICS) !== 1 ||
    occurrences(source, CONVERT_EMIT) !== 1 ||
    occurrences(source, CONVERT_COMMONJS) !== 1
  ) {
    log("the library is compiled at every start: tslab's converter is not the expected one");
    return require(file);
  }
  // Same lines as tslab's file, so its stack frames keep their line numbers.
  const patched = source
    .replace(head, `${head} const fmCompileCache = module.fmCompileCache;`)
    .replace(
      CONVERT_DIAGNOSTICS,
      "const diag = convertDiagnostics(fmCompileCache.diagnostics(builder, srcFile, " +
        "getPreEmitDiagnosticsWithDependencies));",
    )
    .replace(CONVERT_EMIT, "fmCompileCache.emit(builder, dep, srcFile, ")
    .replace(
      CONVERT_COMMONJS,
      "data: fmCompileCache.commonJS(data, (d) => esModuleToCommonJSModule(d, transpileTarget)),",
    );
  const Module = require("module");
  const m = new Module(file, module);
  m.filename = file;
  m.paths = Module._nodeModulePaths(path.dirname(file));
  m.fmCompileCache = cache;
  require.cache[file] = m;
  try {
    m._compile(patched, file);
  } catch (e) {
    delete require.cache[file];
    throw e;
  }
  m.loaded = true;
  return m.exports;
}

/**
 * The compiled library, kept on disk between kernels. tslab compiles every file a cell imports
 * (for the course: the library, ~90 files) at each kernel start: it type-checks them all, then
 * emits each as JavaScript, about 5 s of every notebook's first cell. Here the JavaScript tslab
 * emitted for a file is stored, and used again when nothing that could change it has changed.
 *
 * The key is a hash of every file of the TypeScript program except the cell (the library, the
 * packages' type declarations, the declarations of earlier cells), of the compiler's options and
 * versions. Any edit to any of them, anywhere, misses, and tslab compiles as before. A stored file
 * was emitted after tslab found no error in it or in any file it imports, so when every file a cell
 * imports is in the cache, only the cell itself is type-checked.
 *
 * Entries are written atomically (a temporary file, then a rename). A cache that cannot be written
 * (a read-only course folder) or read (a damaged entry) costs only time. FM_COMPILE_CACHE=off turns
 * it off.
 */
function compileCache(dir, root) {
  const ts = tslabTypescript();
  const crypto = require("crypto");
  const sha = (text) => crypto.createHash("sha256").update(text).digest("hex");
  const rel = (file) => path.relative(root, file).split(path.sep).join("/");
  const textHashes = new WeakMap();
  const stats = { hits: 0, misses: 0, stored: 0, reported: false };
  let memo = { program: null, cell: null, key: null };
  const entries = new Map(); // key + file -> entry or null (not in the cache)
  let tslabVersion = "";
  try {
    tslabVersion = require("tslab/package.json").version;
  } catch {
    // part of the key only
  }
  let writable = true;
  let replaying = null; // the stored output being handed to tslab
  let capturing = null; // the output tslab is writing

  function hashOf(sourceFile) {
    let h = textHashes.get(sourceFile);
    if (!h) {
      h = sha(sourceFile.text);
      textHashes.set(sourceFile, h);
    }
    return h;
  }

  /**
   * The key of everything but the cell, or null when the cell could change how other files compile
   * (a script, or a module declaring globals). tslab makes every cell a module (it prepends `export
   * {};`) and cannot compile a cell declaring globals today: the check is for a later tslab.
   */
  function keyFor(builder, cell) {
    if (!ts.isExternalModule(cell)) return null;
    if (cell.moduleAugmentations && cell.moduleAugmentations.length > 0) return null;
    const program = builder.getProgram();
    if (memo.program === program && memo.cell === cell) return memo.key;
    const h = crypto.createHash("sha256");
    const options = JSON.stringify(program.getCompilerOptions()).split(root).join("<course>");
    h.update(JSON.stringify([COMPILE_CACHE_FORMAT, ts.version, tslabVersion, options]));
    const files = program
      .getSourceFiles()
      .filter((f) => f !== cell)
      .map((f) => `${rel(f.fileName)}\0${hashOf(f)}`)
      .sort();
    for (const f of files) h.update(`${f}\n`);
    memo = { program, cell, key: h.digest("hex").slice(0, 32) };
    return memo.key;
  }

  /** Files of the cell's imports that tslab compiles (its own filter), without the cell. */
  function importedFiles(builder, cell) {
    return builder
      .getAllDependencies(cell)
      .filter((f) => f !== cell.fileName)
      .filter((f) => f.endsWith(".js") || (f.endsWith(".ts") && !f.endsWith(".d.ts")));
  }

  const entryPath = (key, file) => path.join(dir, key, `${sha(rel(file)).slice(0, 32)}.json`);

  function lookup(key, file) {
    const id = `${key}\0${file}`;
    if (entries.has(id)) return entries.get(id);
    let entry = null;
    try {
      const e = JSON.parse(fs.readFileSync(entryPath(key, file), "utf8"));
      const ok =
        e.file === rel(file) &&
        Array.isArray(e.outputs) &&
        e.outputs.length > 0 &&
        e.outputs.every((o) => typeof o.name === "string" && typeof o.data === "string");
      if (ok) entry = e;
    } catch {
      // not stored, or not readable: compiled as usual
    }
    entries.set(id, entry);
    return entry;
  }

  function store(key, file, outputs) {
    const entry = { file: rel(file), outputs };
    entries.set(`${key}\0${file}`, entry);
    if (!writable) return;
    const target = entryPath(key, file);
    const tmp = `${target}.${process.pid}.tmp`;
    try {
      if (!fs.existsSync(path.dirname(target))) {
        fs.mkdirSync(path.dirname(target), { recursive: true });
        prune(key);
      }
      fs.writeFileSync(tmp, JSON.stringify(entry));
      fs.renameSync(tmp, target);
      stats.stored += 1;
    } catch (e) {
      writable = false;
      try {
        fs.rmSync(tmp, { force: true });
      } catch {
        // nothing was written
      }
      log(`the compiled library is not kept (${dir}: ${e.code || e.message})`);
    }
  }

  /** Removes all but the newest key folders (a failure here only leaves them). */
  function prune(current) {
    try {
      pruneNow(current);
    } catch {
      // another kernel pruned at the same moment
    }
  }
  function pruneNow(current) {
    const folders = fs
      .readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && d.name !== current)
      .map((d) => ({ name: d.name, at: fs.statSync(path.join(dir, d.name)).mtimeMs }))
      .sort((a, b) => b.at - a.at);
    const now = Date.now();
    for (const old of folders.slice(COMPILE_CACHE_KEYS_KEPT - 1)) {
      if (now - old.at < COMPILE_CACHE_KEEP_RECENT_MS) continue;
      fs.rmSync(path.join(dir, old.name), { recursive: true, force: true });
    }
  }

  function report() {
    if (stats.reported || stats.hits + stats.misses === 0) return;
    stats.reported = true;
    log(
      `library compiled: ${stats.hits} files from the cache, ${stats.misses} by tslab ` +
        `(${stats.stored} stored)`,
    );
  }

  return {
    stats,
    /**
     * tslab's second step for an imported file (its ES module made CommonJS, as costly as the
     * first): stored with the file's output, and taken from there.
     */
    commonJS(data, convert) {
      if (replaying && replaying.data === data && typeof replaying.commonJS === "string") {
        return replaying.commonJS;
      }
      const result = convert(data);
      if (capturing && capturing.data === data && typeof result === "string") {
        capturing.commonJS = result;
      }
      return result;
    },
    /** tslab's type check of the cell and its imports; the cell alone when all are stored. */
    diagnostics(builder, cell, checkWithImports) {
      const key = keyFor(builder, cell);
      const files = importedFiles(builder, cell);
      if (key && files.length > 0) {
        const all = files.every((f) => lookup(key, f));
        if (all) return ts.getPreEmitDiagnosticsOfFiles(builder.getProgram(), [cell]);
      }
      return checkWithImports(builder, cell);
    },
    /** tslab's emit of one file: from the cache when stored, else emitted and stored. */
    emit(builder, file, cell, writeFile, target, onlyDts, transformers) {
      const sourceFile = builder.getSourceFile(file);
      const key = file === cell.fileName ? null : keyFor(builder, cell);
      if (!key) {
        return builder.emit(sourceFile, writeFile, target, onlyDts, transformers);
      }
      const stored = lookup(key, file);
      if (stored) {
        for (const o of stored.outputs) {
          replaying = o;
          try {
            writeFile(o.name, o.data);
          } finally {
            replaying = null;
          }
        }
        stats.hits += 1;
        setImmediate(report);
        return { emitSkipped: false, diagnostics: [] };
      }
      const outputs = [];
      const result = builder.emit(
        sourceFile,
        (name, data, ...rest) => {
          const output = { name, data };
          outputs.push(output);
          capturing = output;
          try {
            return writeFile(name, data, ...rest);
          } finally {
            capturing = null;
          }
        },
        target,
        onlyDts,
        transformers,
      );
      stats.misses += 1;
      setImmediate(report);
      const clean = !result.emitSkipped && !(result.diagnostics && result.diagnostics.length);
      if (clean && outputs.length > 0) store(key, file, outputs);
      return result;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Starting: the course kernel, or a kernel that explains why it cannot run the course.

/** Starts tslab on this copy of the course (OWN_ROOT), with everything above. */
function startCourseKernel(configPath) {
  process.chdir(OWN_ROOT);
  ownProcessErrors();
  process.on("rejectionHandled", onRejectionHandled);
  recordCompiledSources();
  noErrorExcerpts();
  // Before tslab's other modules, which load the converter too.
  const cacheDir = compileCacheDir(OWN_ROOT);
  const cache = cacheDir ? compileCache(cacheDir, OWN_ROOT) : null;
  wrapCreateConverter(loadConverter(cache));
  const { JupyterHandlerImpl, ZmqServer } = require("tslab/dist/jupyter");
  const { startKernel } = require("tslab/dist/main");
  queueServerSends(ZmqServer);
  exitOnShutdown(ZmqServer);
  trimStderr(JupyterHandlerImpl.prototype);
  coalesceOutput(JupyterHandlerImpl.prototype);
  const sigintBefore = process.listeners("SIGINT");
  startKernel({ configPath, enableFindLocal: false, jsKernel: false, globalVersion: "" });
  // startKernel created the executor, which put the cells' globals on globalThis.__tslab__.
  makeStrict(JupyterHandlerImpl.prototype, watchCellVariables(globalThis.__tslab__));
  // Interrupt wraps after makeStrict; it takes over the SIGINT listener startKernel added.
  const tslabSigint = process.listeners("SIGINT").filter((l) => !sigintBefore.includes(l));
  installInterrupt(JupyterHandlerImpl.prototype, tslabSigint);
}

/**
 * A kernel handler (tslab's interface) that answers every cell with `message` on stderr and an
 * error.
 */
function explainingHandler(message) {
  let count = 0;
  return {
    handleKernel: () => ({
      protocol_version: "5.3",
      implementation: "flow-matching",
      implementation_version: "1.0.0",
      language_info: {
        name: "typescript",
        version: "",
        mimetype: "text/typescript",
        file_extension: ".ts",
      },
      banner: message,
    }),
    async handleExecute(req, writeStream) {
      count += 1;
      writeStream("stderr", `${message}\n`);
      return {
        status: "error",
        execution_count: count,
        ename: "CourseNotFound",
        evalue: message,
        traceback: [message],
      };
    },
    handleIsComplete: () => ({ status: "complete" }),
    handleInspect: () => ({ status: "ok", found: false, data: {}, metadata: {} }),
    handleComplete: (req) => ({
      cursor_start: req.cursor_pos,
      cursor_end: req.cursor_pos,
      matches: [],
      metadata: {},
      status: "ok",
    }),
    handleShutdown: () => ({ restart: false }),
    close() {},
  };
}

/**
 * Course copies this launcher can borrow tslab from: its own, then those install-kernel.mjs listed.
 */
function knownCopies() {
  const copies = [];
  if (isCourseRoot(OWN_ROOT)) copies.push(OWN_ROOT);
  try {
    const listed = JSON.parse(fs.readFileSync(path.join(__dirname, KNOWN_COPIES_FILE), "utf8"));
    for (const dir of Array.isArray(listed) ? listed : [])
      if (typeof dir === "string") copies.push(dir);
  } catch {
    // no list: this file runs inside a course copy
  }
  return copies.filter((dir) => isCourseRoot(dir) && isInstalled(dir));
}

/** Serves `message` as the answer to every cell, with the tslab of a known course copy. */
function startExplainingKernel(configPath, message) {
  log(message);
  const copy = knownCopies()[0];
  if (!copy) {
    log("no installed copy of the course is known here to run even this message: exiting");
    process.exit(1);
  }
  const { ZmqServer } = require(path.join(copy, "node_modules", "tslab", "dist", "jupyter"));
  queueServerSends(ZmqServer);
  exitOnShutdown(ZmqServer);
  process.on("SIGINT", () => {}); // Interrupt: nothing runs
  new ZmqServer(explainingHandler(message), configPath).init();
}

/** Why a notebook in `start` cannot run the course here, or null when it can (with the root). */
function courseFor(start) {
  const root = findCourseRoot(start);
  if (!root) {
    const copies = knownCopies();
    const where = copies.length ? ` (for example ${path.join(copies[0], "notebooks")})` : "";
    return {
      root: null,
      problem:
        `This notebook is not inside a copy of the flow matching course: no folder at or ` +
        `above ${path.resolve(start)} holds one (a package.json named "${PACKAGE_NAME}" next to ` +
        "src/index.ts). The course kernel runs the library of the course folder a notebook sits " +
        `in. Move or copy the notebook into a course's notebooks/ folder${where}, open it from ` +
        "there and restart the kernel.",
    };
  }
  if (!isInstalled(root)) {
    return {
      root,
      problem:
        `The course copy at ${root} is not installed yet (no node_modules/tslab). ` +
        `Run \`npm install\` in ${root}, then restart the kernel.`,
    };
  }
  return { root, problem: null };
}

function main(argv = process.argv) {
  const i = argv.indexOf("--config-path");
  const configPath = i >= 0 ? argv[i + 1] : undefined;
  if (!configPath) {
    console.error(
      "usage: node scripts/kernel.js --config-path <connection file>  (Jupyter starts it)",
    );
    process.exit(2);
  }
  const { root, problem } = courseFor(process.cwd());
  if (problem) return startExplainingKernel(configPath, problem);
  const launcher = path.join(root, "scripts", "kernel.js");
  if (fs.existsSync(launcher) && fs.realpathSync(launcher) === fs.realpathSync(__filename))
    return startCourseKernel(configPath);
  let theirs;
  try {
    theirs = require(launcher);
  } catch (err) {
    const why = err && err.message ? err.message.split("\n")[0] : String(err);
    return startExplainingKernel(
      configPath,
      `The course copy at ${root} has no working kernel launcher (scripts/kernel.js: ${why}).`,
    );
  }
  if (typeof theirs.startCourseKernel === "function") return theirs.startCourseKernel(configPath);
  return runOlderLauncher(launcher, root, argv.slice(2));
}

/** A course copy made before this launcher existed: its own kernel.js, as a child process. */
function runOlderLauncher(launcher, root, args) {
  const { spawn } = require("child_process");
  const child = spawn(process.execPath, [launcher, ...args], { cwd: root, stdio: "inherit" });
  // Jupyter interrupts the kernel's process group: the child gets SIGINT itself.
  process.on("SIGINT", () => {});
  process.on("SIGTERM", () => child.kill("SIGTERM"));
  child.on("exit", (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

// The interrupt sentinel runs this file as a worker thread (installInterrupt).
if (!isMainThread && workerData && workerData.role === SENTINEL_ROLE) {
  runSentinel(workerData.counters);
} else if (require.main === module) {
  main();
}

module.exports = {
  PACKAGE_NAME,
  KNOWN_COPIES_FILE,
  findCourseRoot,
  courseFor,
  startCourseKernel,
  makeStrict,
  trimStderr,
  dropInternalFrames,
  tidyErrorText,
  decodeMappings,
  expandShorthands,
  unexpand,
  queueSends,
  compileCache,
  compileCacheDir,
  loadConverter,
};
