/**
 * Interrupting the library's long loops (Kernel > Interrupt in a notebook, the grader's cell time
 * limit): training, sampling and every solver stop within one step and leave everything as it was
 * after the last completed step.
 *
 * How an interrupt arrives. Jupyter interrupts a kernel with SIGINT. A signal handler written in
 * JavaScript only runs when the event loop is free, so it can never stop a synchronous loop (a
 * solver, training without a progress bar) and it could only abandon an awaiting cell while its
 * loop went on in the background. The course kernel (scripts/kernel.js) therefore counts signals on
 * a thread of its own, in shared memory that it publishes as
 * `globalThis[Symbol.for("flow-matching.interrupt")]` (layout below). The library's loops read that
 * counter once per step (`checkInterrupt`: two atomic loads) and throw an `InterruptedError` at a
 * point where nothing is half done; `finally` blocks and `tf.tidy` free what the step held, as for
 * any other error.
 *
 * What counts as interrupted: in the course kernel, any signal since the running cell began (so a
 * cell that calls the library many times stops at the next call, too). Elsewhere (scripts, tests)
 * no signal is counted; `requestInterrupt()` stops the operations running at the time, which is how
 * the tests interrupt at a known step. Helper threads get the same counter and the caller's base
 * with each job, so their share of a sampling run stops at the same time.
 */

/** Slots of the shared counters (Int32Array). Written by the kernel unless said otherwise. */
export const SLOT = {
  /** Interrupt signals received (the kernel's signal thread; `requestInterrupt`). */
  signals: 0,
  /** `signals` when the running cell began. */
  base: 1,
  /** The running cell's number, 0 between cells. */
  cell: 2,
  /** Library operations in progress on the main thread (written by this module). */
  busy: 3,
} as const;

/** Slots the buffer needs at least (the kernel may use more for its own bookkeeping). */
export const INTERRUPT_SLOTS = 8;

const KEY = Symbol.for("flow-matching.interrupt");

/**
 * Thrown by a loop that stopped because of an interrupt. `partial` holds what the loop had
 * finished, where that is worth keeping (training: the losses of the completed steps).
 */
export class InterruptedError<T = unknown> extends Error {
  readonly partial?: T;
  constructor(message = "Interrupted", partial?: T) {
    super(message);
    this.name = "InterruptedError";
    if (partial !== undefined) this.partial = partial;
  }
}

let counters: Int32Array;
/** True when the course kernel keeps the counters (cells set the base). */
let kernelOwned = false;
{
  const published = (globalThis as Record<symbol, unknown>)[KEY];
  if (
    published instanceof Int32Array &&
    published.buffer instanceof SharedArrayBuffer &&
    published.length >= INTERRUPT_SLOTS
  ) {
    counters = published;
    kernelOwned = true;
  } else {
    counters = new Int32Array(
      new SharedArrayBuffer(INTERRUPT_SLOTS * Int32Array.BYTES_PER_ELEMENT),
    );
  }
}

/** Operations in progress on this thread, and the signal count when the outermost one began. */
let depth = 0;
let operationBase = 0;
/** True in a helper thread (it reads the main thread's counters and never writes them). */
let helperThread = false;
/** In a helper thread: the base of the job being run (null outside a job: nothing stops). */
let jobBase: number | null = null;

/** The shared counters (handed to helper threads so that they see the same interrupts). */
export function interruptCounters(): Int32Array {
  return counters;
}

/**
 * In a helper thread: use the main thread's counters (instead of this thread's own). Called once,
 * when the helper starts.
 */
export function useInterruptCounters(shared: Int32Array): void {
  if (
    !(shared instanceof Int32Array) ||
    !(shared.buffer instanceof SharedArrayBuffer) ||
    shared.length < INTERRUPT_SLOTS
  ) {
    throw new Error(
      "useInterruptCounters: expected the main thread's shared Int32Array of interrupt counters",
    );
  }
  counters = shared;
  helperThread = true;
}

/** The signal count against which "interrupted" is judged now (see the module comment). */
export function interruptBase(): number {
  if (helperThread) return jobBase ?? Atomics.load(counters, SLOT.signals);
  if (kernelOwned) return Atomics.load(counters, SLOT.base);
  return depth > 0 ? operationBase : Atomics.load(counters, SLOT.signals);
}

/** True when an interrupt arrived that the running operation (or cell) must obey. */
export function interruptPending(): boolean {
  return Atomics.load(counters, SLOT.signals) !== interruptBase();
}

/**
 * Throws an `InterruptedError` when an interrupt is pending. Call it between steps, where stopping
 * leaves nothing half done. `what` says what stopped (e.g. "sampling stopped at step 12 of 100").
 */
export function checkInterrupt(what?: () => string): void {
  if (interruptPending()) throw new InterruptedError(`Interrupted: ${what ? what() : "stopped"}`);
}

/** Interrupts the library operations running now, as Kernel > Interrupt does. */
export function requestInterrupt(): void {
  Atomics.add(counters, SLOT.signals, 1);
}

function enter(): void {
  if (helperThread) return;
  if (depth === 0) operationBase = Atomics.load(counters, SLOT.signals);
  depth++;
  Atomics.store(counters, SLOT.busy, depth);
}

function leave(): void {
  if (helperThread) return;
  depth--;
  Atomics.store(counters, SLOT.busy, depth);
}

/**
 * Runs `body` as one interruptible operation: outside the kernel, an interrupt requested while it
 * runs stops it; inside, the kernel knows the library is working (it then lets the loop stop by
 * itself rather than cutting the cell short).
 */
export function interruptible<T>(body: () => T): T {
  enter();
  try {
    return body();
  } finally {
    leave();
  }
}

/** `interruptible` for an operation that awaits between steps (training with a progress bar). */
export async function interruptibleAsync<T>(body: () => Promise<T>): Promise<T> {
  enter();
  try {
    return await body();
  } finally {
    leave();
  }
}

/** In a helper thread: runs one job against the caller's base (the caller's interrupts stop it). */
export function asJob<T>(base: number, body: () => T): T {
  jobBase = base;
  try {
    return body();
  } finally {
    jobBase = null;
  }
}
