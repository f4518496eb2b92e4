/**
 * Worker threads, each with its own TensorFlow.js, for the two jobs that split cleanly over the rows
 * of a batch: sampling (every particle is integrated on its own) and the training gradient (a sum over
 * the batch). See `src/model/parallel.ts` for those two jobs.
 *
 * Why: the wasm and cpu backends compute on ONE core, and a laptop has several. tfjs-node uses every
 * core by itself, so on the native backends the library stays on one thread.
 *
 * How many: `FM_THREADS=n` in the environment, or `setThreads(n)` from code; by default as many as
 * the machine has cores (`os.availableParallelism()`). `setThreads(1)` turns the helpers off.
 *
 * Helpers start in the background on first use (loading TypeScript, the library and TensorFlow.js
 * takes a fraction of a second); until one is ready, the main thread does its share too, which gives
 * the same numbers. `startThreads()` (parallel.ts) starts them and waits, for timings that should not
 * include the start.
 *
 * The calls are synchronous (sampling is a synchronous function of the library): a request is a
 * message on a MessagePort plus a counter in shared memory that the helper sleeps on
 * (`Atomics.wait`); the reply comes back the same way and is read with `receiveMessageOnPort`, so
 * neither side needs its event loop. The main thread computes its own share while the helpers work.
 *
 * A helper is a Node worker running `worker.cjs`, which loads the library's TypeScript sources
 * directly (TypeScript's `transpileModule`) and then the job handlers of the module it is given.
 */
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { MessageChannel, Worker, receiveMessageOnPort, type MessagePort } from "node:worker_threads";
import { backendInfo, type BackendName } from "./backend";

/** One helper thread: its worker, its private port and the shared counters. */
export interface Helper {
  readonly worker: Worker;
  readonly port: MessagePort;
  /**
   * [0] requests sent (written by the main thread only), [1] replies written (by the helper only; the
   * reply to request k makes it reach k), [2] state: 0 starting, 1 ready, -1 stopped.
   */
  readonly ctrl: Int32Array;
  /** The backend the helper's TensorFlow.js runs on. */
  readonly backend: BackendName;
  /** The module whose job handlers the helper runs. */
  readonly handlers: string;
}

/** How long a helper may take to start (load TypeScript, the library and its backend). */
const START_TIMEOUT_MS = 120_000;

/** How long `receive` looks for a reply before it sleeps (milliseconds). */
const SPIN_MS = 0.5;

let requested: number | "auto" | undefined;
const pool: Helper[] = [];

/** Reads FM_THREADS: a positive integer or "auto"; anything else is an error naming the variable. */
function fromEnvironment(): number | "auto" | undefined {
  const raw = process.env.FM_THREADS;
  if (raw === undefined || raw.trim() === "") return undefined;
  if (raw.trim() === "auto") return "auto";
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`FM_THREADS="${raw}" must be a positive integer or "auto"`);
  return n;
}

/**
 * Sets how many threads sampling and training may use (the main thread included): a positive integer,
 * or `"auto"` (one per core); overrides `FM_THREADS`. Without an argument, back to `FM_THREADS`, else
 * one per core. Helpers beyond the new count stay asleep until wanted again (`stopThreads` ends them).
 * @example
 * fm.setThreads(1);   // everything on the main thread
 */
export function setThreads(n?: number | "auto"): void {
  if (n !== undefined && n !== "auto" && (!Number.isInteger(n) || n < 1)) {
    throw new Error(`setThreads: give a positive integer or "auto"; got ${n}`);
  }
  requested = n;
}

/**
 * The number of threads sampling and training use now (the main thread included): 1 on the native
 * backends (tfjs-node spreads its own work over the cores) and before `initBackend`; otherwise
 * `setThreads`, else `FM_THREADS`, else one per core.
 */
export function threadCount(): number {
  const backend = backendInfo()?.name;
  if (backend !== "wasm" && backend !== "cpu") return 1;
  const want = requested ?? fromEnvironment() ?? "auto";
  return want === "auto" ? availableParallelism() : want;
}

/** The path of the helpers' entry script (next to this module in the sources). */
function entryScript(): string {
  return join(__dirname, "worker.cjs");
}

function start(handlers: string, backend: BackendName): Helper {
  const ctrl = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  const { port1, port2 } = new MessageChannel();
  const worker = new Worker(entryScript(), {
    workerData: { handlers, backend, ctrl, port: port2 },
    transferList: [port2],
  });
  // The helpers must never keep a finished program (a script, a test run, a notebook kernel at exit) alive.
  worker.unref();
  port1.unref();
  return { worker, port: port1, ctrl, backend, handlers };
}

function stop(helper: Helper): void {
  Atomics.store(helper.ctrl, 2, -1);
  Atomics.notify(helper.ctrl, 0);
  void helper.worker.terminate();
}

/** Drops helpers on another backend (the main thread switched) or with other handlers. */
function reconcile(backend: BackendName, handlers: string): void {
  for (let i = pool.length - 1; i >= 0; i--) {
    if (pool[i].backend !== backend || pool[i].handlers !== handlers) {
      stop(pool[i]);
      pool.splice(i, 1);
    }
  }
}

const isReady = (h: Helper) => Atomics.load(h.ctrl, 2) === 1;

/**
 * Up to `count` READY helpers whose job handlers are the module `handlers` (an absolute path to a .ts
 * file), on the main thread's backend. Missing helpers are started in the background (a fraction of
 * a second each, once) and join later calls when ready; until then, and whenever `threadCount()`
 * allows fewer, the caller does the rest itself, which gives the same numbers (see parallel.ts).
 * A helper that failed to start is an error saying why.
 */
export function helpers(count: number, handlers: string): Helper[] {
  const backend = backendInfo()?.name;
  if (backend === undefined) return [];
  const want = Math.max(0, Math.min(count, threadCount() - 1));
  reconcile(backend, handlers);
  while (pool.length < want) pool.push(start(handlers, backend));
  const failed = pool.find((h) => Atomics.load(h.ctrl, 2) === -1);
  if (failed) {
    const why = receiveMessageOnPort(failed.port)?.message as { error?: string } | undefined;
    pool.splice(pool.indexOf(failed), 1);
    void failed.worker.terminate();
    throw new Error(
      `a helper thread failed to start: ${why?.error ?? "it stopped without saying why"}. ` +
        `fm.setThreads(1) (or FM_THREADS=1) runs everything on the main thread`,
    );
  }
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
    if (Date.now() > deadline) throw new Error(`helper threads did not start within ${START_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Asks a helper to run its job `job` on `args` (returns at once; `receive` waits for the reply). */
export function send(helper: Helper, job: string, args: unknown, transfer: ArrayBuffer[] = []): void {
  const id = Atomics.load(helper.ctrl, 0) + 1;
  helper.port.postMessage({ id, job, args }, transfer);
  Atomics.store(helper.ctrl, 0, id);
  Atomics.notify(helper.ctrl, 0);
}

/** Waits for the reply to the latest request sent to `helper`; a job that failed there throws here. */
export function receive<T>(helper: Helper): T {
  const { ctrl } = helper;
  const id = Atomics.load(ctrl, 0); // the latest request
  // Replies usually come within a millisecond: look for one before sleeping (see worker.cjs).
  const spinUntil = performance.now() + SPIN_MS;
  while (Atomics.load(ctrl, 1) < id && performance.now() < spinUntil);
  for (;;) {
    const done = Atomics.load(ctrl, 1);
    if (done >= id) break;
    if (Atomics.load(ctrl, 2) === -1) throw new Error("a helper thread stopped while working; setThreads(1) runs everything on the main thread");
    Atomics.wait(ctrl, 1, done, 1000);
  }
  // Replies carry their request's number. Older ones (a call interrupted between send and receive)
  // are dropped: only the answer to this request may be returned.
  for (;;) {
    const reply = receiveMessageOnPort(helper.port)?.message as { id: number; error?: string; result?: T } | undefined;
    if (reply === undefined) throw new Error("a helper thread answered without a message (internal error)");
    if (reply.id !== id) continue;
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
 * Runs `own` (the main thread's share) while the helpers of `team` work on theirs, then collects their
 * replies. When `own` throws, the replies are still collected (and dropped) before the error goes on.
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
