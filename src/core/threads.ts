/**
 * Worker threads, each with its own TensorFlow.js, for the two jobs that split cleanly over the
 * rows of a batch: sampling (every particle is integrated on its own) and the training gradient (a
 * sum over the batch). See `src/model/parallel.ts` for those two jobs.
 *
 * Why: the wasm and cpu backends compute on ONE core, and a laptop has several. tfjs-node uses
 * every core by itself, so on the native backends the library stays on one thread.
 *
 * How many: `FM_THREADS=n` in the environment, or `setThreads(n)` from code; by default as many as
 * the machine has cores (`os.availableParallelism()`), and never more (a count above it is capped,
 * with a warning: more threads than cores only compete for them). `setThreads(1)` turns the helpers
 * off.
 *
 * Helpers start in the background on first use (loading TypeScript, the library and TensorFlow.js
 * takes a fraction of a second); until one is ready, the main thread does its share too, which
 * gives the same numbers. `startThreads()` (parallel.ts) starts them and waits, for timings that
 * should not include the start.
 *
 * The calls are synchronous (sampling is a synchronous function of the library): a request is a
 * message on a MessagePort plus a counter in shared memory that the helper sleeps on
 * (`Atomics.wait`); the reply comes back the same way and is read with `receiveMessageOnPort`, so
 * neither side needs its event loop. The main thread computes its own share while the helpers work.
 *
 * A helper is a Node worker running `worker.cjs`, which loads the library's TypeScript sources
 * directly (TypeScript's `transpileModule`) and then the job handlers of the module it is given.
 *
 * Helpers that die. The helpers are started by a small manager thread (`helper-manager.cjs`) whose
 * only work is to watch them: when one ends (terminated, crashed, out of memory), the manager marks
 * it in shared memory at once and says why, even while the main thread sleeps waiting for that
 * helper's reply (a worker's own "exit" event would only reach the main thread's event loop, which
 * a synchronous call never returns to). The call that was waiting fails with that cause; a helper
 * found dead between calls is replaced with a warning. Either way the next call works: a new helper
 * starts in the background, and until it is ready the main thread does its share (same numbers). A
 * job that fails on a memory allocation retires its helper the same way (its TensorFlow.js may be
 * left unusable).
 *
 * Interrupts (src/core/interrupt.ts): every request carries the caller's interrupt base, so a
 * helper's share of a sampling run stops at the same step as the main thread's; a helper that does
 * not answer within a few seconds of an interrupt is given up on and replaced.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import {
  MessageChannel,
  Worker,
  receiveMessageOnPort,
  type MessagePort,
} from "node:worker_threads";
import { backendInfo, type BackendName } from "./backend";
import { InterruptedError, interruptBase, interruptCounters, interruptPending } from "./interrupt";

/** Slots of a helper's shared counters (`Helper.ctrl`). */
const REQUESTS = 0; // requests sent (written by the main thread only)
const REPLIES = 1; // replies written (by the helper only; the reply to request k makes it reach k)
const STATE = 2; // 0 starting, 1 ready, -1 failed to start (by the helper)
const EXITED = 3; // 1 once the helper's thread has ended (by the manager)
const STOP = 4; // 1 asks the helper to end (by the main thread)
const CTRL_SLOTS = 5;

/** One helper thread: its private port, the shared counters and what it runs. */
export interface Helper {
  /** Its number (unique in this process). */
  readonly id: number;
  readonly port: MessagePort;
  /** Shared counters: requests, replies, start state, exited, stop (see the slots above). */
  readonly ctrl: Int32Array;
  /** The backend the helper's TensorFlow.js runs on. */
  readonly backend: BackendName;
  /** The module whose job handlers the helper runs. */
  readonly handlers: string;
  /** The job of the latest request (named in errors). */
  job?: string;
}

/** How long a helper may take to start (load TypeScript, the library and its backend). */
const START_TIMEOUT_MS = 120_000;

/** How long `receive` looks for a reply before it sleeps (milliseconds). */
const SPIN_MS = 0.5;

/** How long `receive` sleeps at a time while waiting (it checks for interrupts in between). */
const WAIT_MS = 50;

/** After an interrupt, how long a helper may take to stop before it is given up on (ms). */
const ABANDON_MS = 3000;

/** Heap limit of each helper (MB): a helper that needs more dies alone, not the process. */
let heapLimitMb = 1024;

let requested: number | "auto" | undefined;
const pool: Helper[] = [];
let nextId = 0;

/** Reads FM_THREADS: a positive integer or "auto"; anything else is an error naming it. */
function fromEnvironment(): number | "auto" | undefined {
  const raw = process.env.FM_THREADS;
  if (raw === undefined || raw.trim() === "") return undefined;
  if (raw.trim() === "auto") return "auto";
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`FM_THREADS="${raw}" must be a positive integer or "auto"`);
  return n;
}

/**
 * Sets how many threads sampling and training may use (the main thread included): a positive
 * integer, or `"auto"` (one per core); overrides `FM_THREADS`. Without an argument, back to
 * `FM_THREADS`, else one per core. More than the machine's cores is capped at the core count, with
 * a warning. Helpers beyond the new count stay asleep until wanted again (`stopThreads` ends them).
 * @example
 * fm.setThreads(1);   // everything on the main thread
 */
export function setThreads(n?: number | "auto"): void {
  if (n !== undefined && n !== "auto" && (!Number.isInteger(n) || n < 1)) {
    throw new Error(`setThreads: give a positive integer or "auto"; got ${n}`);
  }
  requested = n;
}

/** Requests above the core count already warned about (one warning per distinct request). */
const warnedCaps = new Set<string>();

/**
 * The number of threads sampling and training use now (the main thread included): 1 on the native
 * backends (tfjs-node spreads its own work over the cores) and before `initBackend`; otherwise
 * `setThreads`, else `FM_THREADS`, else one per core; never more than the cores.
 */
export function threadCount(): number {
  const backend = backendInfo()?.name;
  if (backend !== "wasm" && backend !== "cpu") return 1;
  const cores = availableParallelism();
  const fromCode = requested !== undefined;
  const want = requested ?? fromEnvironment() ?? "auto";
  if (want === "auto") return cores;
  if (want > cores) {
    const source = fromCode ? `setThreads(${want})` : `FM_THREADS=${want}`;
    if (!warnedCaps.has(source)) {
      warnedCaps.add(source);
      console.warn(
        `${source} asks for more threads than this machine has cores (${cores}); using ${cores}: ` +
          `more threads than cores only compete for them (and each costs memory and start-up time)`,
      );
    }
    return cores;
  }
  return want;
}

/**
 * Sets the JavaScript heap limit of helpers started from now on (MB, default 1024). A helper that
 * reaches it dies alone with "out of memory" instead of taking the whole process down.
 */
export function setHelperHeapLimit(megabytes: number): void {
  if (!Number.isFinite(megabytes) || megabytes < 16)
    throw new Error(`setHelperHeapLimit: give at least 16 (MB); got ${megabytes}`);
  heapLimitMb = megabytes;
}

// ---------------------------------------------------------------------------------------------
// The manager thread: starts the helpers and reports each one's end (see the module comment).

let manager: { worker: Worker; status: MessagePort } | null = null;
/** Why each helper ended, as the manager reported it (by helper id). */
const causes = new Map<number, string>();

function managerThread(): { worker: Worker; status: MessagePort } {
  if (manager !== null) return manager;
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(join(__dirname, "helper-manager.cjs"), {
    workerData: { status: port2 },
    transferList: [port2],
  });
  // Neither the manager nor its helpers may keep a finished program (a script, a test run, a
  // kernel) alive.
  worker.unref();
  port1.unref();
  const current = { worker, status: port1 };
  worker.on("exit", () => {
    if (manager === current) manager = null;
  });
  manager = current;
  return current;
}

/** Why helper `h` ended: the manager's report, read without the event loop. */
function causeOf(h: Helper): string {
  for (;;) {
    const m = manager && receiveMessageOnPort(manager.status);
    if (!m) break;
    const { id, cause } = m.message as { id: number; cause: string };
    // Kept for this helper and those still in the pool (the others were retired).
    if (id === h.id || pool.some((x) => x.id === id)) causes.set(id, cause);
  }
  const cause = causes.get(h.id);
  causes.delete(h.id);
  return cause ?? "it stopped without saying why";
}

function start(handlers: string, backend: BackendName): Helper {
  const ctrl = new Int32Array(new SharedArrayBuffer(CTRL_SLOTS * Int32Array.BYTES_PER_ELEMENT));
  const { port1, port2 } = new MessageChannel();
  const id = ++nextId;
  managerThread().worker.postMessage(
    {
      type: "start",
      id,
      script: join(__dirname, "worker.cjs"),
      resourceLimits: { maxOldGenerationSizeMb: heapLimitMb },
      workerData: { handlers, backend, ctrl, port: port2, interrupt: interruptCounters() },
    },
    [port2],
  );
  port1.unref();
  return { id, port: port1, ctrl, backend, handlers };
}

/** Asks helper `h` to end and forgets it (the manager ends its thread). */
function stop(h: Helper): void {
  Atomics.store(h.ctrl, STOP, 1);
  Atomics.notify(h.ctrl, REQUESTS);
  manager?.worker.postMessage({ type: "terminate", id: h.id, reason: "stopped by the library" });
}

/** Removes `h` from the pool and ends it. */
function retire(h: Helper): void {
  const i = pool.indexOf(h);
  if (i >= 0) pool.splice(i, 1);
  stop(h);
}

/**
 * Ends helper `h` at once without telling the library, as when something outside it kills the
 * thread. The library notices on its own (tests use this to check that it does).
 */
export function terminateHelper(h: Helper): void {
  manager?.worker.postMessage({ type: "terminate", id: h.id });
}

/** Drops helpers on another backend (the main thread switched) or with other handlers. */
function reconcile(backend: BackendName, handlers: string): void {
  for (let i = pool.length - 1; i >= 0; i--) {
    if (pool[i].backend !== backend || pool[i].handlers !== handlers) retire(pool[i]);
  }
}

const isReady = (h: Helper) =>
  Atomics.load(h.ctrl, STATE) === 1 && Atomics.load(h.ctrl, EXITED) === 0;

/**
 * Up to `count` READY helpers whose job handlers are the module `handlers` (an absolute path to a
 * .ts file), on the main thread's backend. Missing helpers are started in the background (a
 * fraction of a second each, once) and join later calls when ready; until then, and whenever
 * `threadCount()` allows fewer, the caller does the rest itself, which gives the same numbers (see
 * parallel.ts). A helper that failed to start is an error saying why; one that died since the last
 * call is replaced, with a warning saying why it died.
 */
export function helpers(count: number, handlers: string): Helper[] {
  const backend = backendInfo()?.name;
  if (backend === undefined) return [];
  const want = Math.max(0, Math.min(count, threadCount() - 1));
  reconcile(backend, handlers);
  // Failed to start: said so (STATE -1), or ended before it was ready.
  const failed = pool.find(
    (h) =>
      Atomics.load(h.ctrl, STATE) === -1 ||
      (Atomics.load(h.ctrl, EXITED) === 1 && Atomics.load(h.ctrl, STATE) !== 1),
  );
  if (failed) {
    const why = receiveMessageOnPort(failed.port)?.message as { error?: string } | undefined;
    retire(failed);
    throw new Error(
      `a helper thread failed to start: ${why?.error ?? causeOf(failed)}. ` +
        `fm.setThreads(1) (or FM_THREADS=1) runs everything on the main thread`,
    );
  }
  for (const h of pool.filter((x) => Atomics.load(x.ctrl, EXITED) === 1)) {
    retire(h);
    console.warn(
      `a helper thread had stopped: ${causeOf(h)}. A new one is starting; until it is ready ` +
        `the main thread does its share (same numbers). fm.setThreads(1) keeps everything on ` +
        `the main thread`,
    );
  }
  while (pool.length < want) pool.push(start(handlers, backend));
  return pool.slice(0, want).filter(isReady);
}

/**
 * Starts up to `count` helpers (as `helpers` does) and waits until they are ready, without blocking
 * the event loop. Resolves to the number of ready helpers.
 */
export async function awaitHelpers(count: number, handlers: string): Promise<number> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const want = Math.max(0, Math.min(count, threadCount() - 1));
    const ready = helpers(count, handlers).length;
    if (ready >= want) return ready;
    if (Date.now() > deadline)
      throw new Error(`helper threads did not start within ${START_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Asks a helper to run its job `job` on `args` (returns at once; `receive` waits for it). */
export function send(
  helper: Helper,
  job: string,
  args: unknown,
  transfer: ArrayBuffer[] = [],
): void {
  const id = Atomics.load(helper.ctrl, REQUESTS) + 1;
  helper.job = job;
  helper.port.postMessage({ id, job, args, base: interruptBase() }, transfer);
  Atomics.store(helper.ctrl, REQUESTS, id);
  Atomics.notify(helper.ctrl, REQUESTS);
}

interface Reply<T> {
  id: number;
  result?: T;
  error?: string;
  /** The job stopped for an interrupt. */
  interrupted?: boolean;
  /** The job failed on a memory allocation or a WebAssembly trap: the helper may be unusable. */
  fatal?: boolean;
}

/**
 * Waits for the reply to the latest request sent to `helper`; a job that failed there throws here.
 * A helper that dies meanwhile is an error naming the cause (it is removed; the next call starts a
 * new one). After an interrupt, a helper gets a few seconds to stop before it is given up on.
 */
export function receive<T>(helper: Helper): T {
  const { ctrl } = helper;
  const id = Atomics.load(ctrl, REQUESTS); // the latest request
  const job = helper.job ?? "its job";
  // Replies usually come within a millisecond: look for one before sleeping (see worker.cjs).
  const spinUntil = performance.now() + SPIN_MS;
  while (Atomics.load(ctrl, REPLIES) < id && performance.now() < spinUntil);
  let interruptedAt = 0;
  for (;;) {
    const done = Atomics.load(ctrl, REPLIES);
    if (done >= id) break;
    if (Atomics.load(ctrl, EXITED) === 1) {
      const cause = causeOf(helper);
      retire(helper);
      throw new Error(
        `a helper thread stopped while working on "${job}": ${cause}. The next call starts a ` +
          `new one (until it is ready the main thread does its share); fm.setThreads(1) keeps ` +
          `everything on the main thread`,
      );
    }
    if (interruptPending()) {
      if (interruptedAt === 0) interruptedAt = performance.now();
      else if (performance.now() - interruptedAt > ABANDON_MS) {
        retire(helper);
        throw new InterruptedError(
          `Interrupted: a helper thread did not stop within ${ABANDON_MS / 1000} s ` +
            `and was replaced`,
        );
      }
    }
    Atomics.wait(ctrl, REPLIES, done, WAIT_MS);
  }
  // Replies carry their request's number. Older ones (a call interrupted between send and receive)
  // are dropped: only the answer to this request may be returned.
  for (;;) {
    const reply = receiveMessageOnPort(helper.port)?.message as Reply<T> | undefined;
    if (reply === undefined)
      throw new Error("a helper thread answered without a message (internal error)");
    if (reply.id !== id) continue;
    if (reply.interrupted) throw new InterruptedError(reply.error);
    if (reply.fatal) {
      retire(helper);
      throw new Error(
        `a helper thread failed working on "${job}": ${reply.error}. It was stopped (its ` +
          `TensorFlow.js may be unusable) and the next call starts a new one. Fewer points ` +
          `per call need less memory at once; ` +
          `fm.setThreads(1) keeps everything on the main thread`,
      );
    }
    if (reply.error !== undefined) throw new Error(reply.error);
    return reply.result as T;
  }
}

/**
 * The replies to the latest request of each helper, in order. Every reply is collected before the
 * first failure (if any) is thrown, so no stale reply is left for the next request.
 */
export function receiveAll<T>(team: Helper[]): T[] {
  const out: T[] = [];
  let failure: unknown = null;
  for (const h of team) {
    try {
      out.push(receive<T>(h));
    } catch (err) {
      failure ??= err;
    }
  }
  if (failure !== null) throw failure;
  return out;
}

/**
 * Runs `own` (the main thread's share) while the helpers of `team` work on theirs, then collects
 * their replies. When `own` throws, the replies are still collected (and dropped) before the error
 * goes on.
 */
export function alongside<A, T>(team: Helper[], own: () => A): { own: A; replies: T[] } {
  let mine: A;
  try {
    mine = own();
  } catch (err) {
    try {
      receiveAll(team);
    } catch {
      // the main thread's error is the one to report
    }
    throw err;
  }
  return { own: mine, replies: receiveAll<T>(team) };
}

/** Stops every helper (they are started again when needed). */
export function stopThreads(): void {
  while (pool.length > 0) stop(pool.pop()!);
}

/** The number of helpers ready now (started helpers still loading are not counted). */
export function runningHelpers(): number {
  return pool.filter(isReady).length;
}
