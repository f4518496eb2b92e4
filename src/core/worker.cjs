// The entry of a helper thread (see threads.ts). Plain JavaScript, because a worker cannot start
// from TypeScript: it teaches Node to load .ts files (TypeScript's transpileModule, the same
// translation the notebooks' kernel makes), loads the job handlers it was given, starts its own
// TensorFlow.js on the main thread's backend, then answers requests until it is stopped. The
// manager thread (helper-manager.cjs) starts it and reports its end.
//
// Protocol (ctrl is an Int32Array over shared memory): the main thread posts a request
// { id, job, args, base } on `port` and increments ctrl[0]; the helper sleeps on ctrl[0], takes the
// request with receiveMessageOnPort, runs the job against the caller's interrupt base (`base`, see
// src/core/interrupt.ts), posts { id, result } or { id, error, interrupted?, fatal? } and
// increments ctrl[1]. ctrl[2] is 1 once ready, -1 if starting failed; ctrl[3] is set by the manager
// when this thread has ended; ctrl[4] = 1 asks it to end.
"use strict";
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
require("./ts-register.cjs");
const interrupt = require("./interrupt.ts");

const { handlers: handlersPath, backend, ctrl, port } = workerData;
const REQUESTS = 0;
const REPLIES = 1;
const STATE = 2;
const STOP = 4;
const SPIN_MS = 0.5;

interrupt.useInterruptCounters(workerData.interrupt);

function reply(message, transfer) {
  port.postMessage(message, transfer);
  Atomics.add(ctrl, REPLIES, 1);
  Atomics.notify(ctrl, REPLIES);
}

/**
 * A failure after which this thread's TensorFlow.js may be unusable: a failed allocation
 * (JavaScript or WebAssembly memory) or a WebAssembly trap. The main thread then replaces the
 * helper.
 */
function isFatal(err) {
  return (
    (err instanceof RangeError && /alloc|memory/i.test(err.message)) ||
    err instanceof WebAssembly.RuntimeError
  );
}

// One request, answered. (Kept apart from the waiting loop so that V8 optimises it as a normal
// function: the loop itself runs for the helper's whole life and is never entered twice.)
function handle(handlers) {
  const request = receiveMessageOnPort(port);
  const id = request?.message?.id;
  try {
    if (request === undefined)
      throw new Error("a request arrived without a message (internal error)");
    const { job, args, base } = request.message;
    const handler = handlers[job];
    if (typeof handler !== "function")
      throw new Error(`a helper thread has no job called ${JSON.stringify(job)}`);
    const { result, transfer } = interrupt.asJob(base, () => handler(args));
    reply({ id, result }, transfer ?? []);
  } catch (err) {
    const fatal = isFatal(err);
    const error =
      err instanceof Error ? (fatal ? `${err.name}: ${err.message}` : err.message) : String(err);
    reply({ id, error, interrupted: err instanceof interrupt.InterruptedError, fatal }, []);
  }
}

const stopping = () => Atomics.load(ctrl, STOP) === 1;

/** Waits until request number `seen + 1` has been sent; false once the helper is asked to end. */
function nextRequest(seen) {
  // The next request of a training loop comes within a fraction of a millisecond: look for it for a
  // short while before sleeping (waking a sleeping thread costs tens of microseconds or more).
  const spinUntil = performance.now() + SPIN_MS;
  while (Atomics.load(ctrl, REQUESTS) === seen && performance.now() < spinUntil);
  while (Atomics.load(ctrl, REQUESTS) === seen) {
    if (stopping()) return false;
    Atomics.wait(ctrl, REQUESTS, seen, 1000);
  }
  return !stopping();
}

function serve(handlers) {
  for (let seen = 0; nextRequest(seen); seen++) handle(handlers);
}

(async () => {
  let handlers;
  try {
    handlers = require(handlersPath);
    await handlers.initHelper(backend);
  } catch (err) {
    port.postMessage({ error: err instanceof Error ? err.message : String(err) });
    Atomics.store(ctrl, STATE, -1);
    Atomics.notify(ctrl, STATE);
    return;
  }
  Atomics.store(ctrl, STATE, 1);
  Atomics.notify(ctrl, STATE);
  serve(handlers.jobs);
})();
