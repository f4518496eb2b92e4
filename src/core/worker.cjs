// The entry of a helper thread (see threads.ts). Plain JavaScript, because a worker cannot start from
// TypeScript: it teaches Node to load .ts files (TypeScript's transpileModule, the same translation
// the notebooks' kernel makes), loads the job handlers it was given, starts its own TensorFlow.js on
// the main thread's backend, then answers requests until it is stopped.
//
// Protocol (ctrl is an Int32Array over shared memory): the main thread posts a request { id, job, args }
// on `port` and increments ctrl[0]; the helper sleeps on ctrl[0], takes the request with
// receiveMessageOnPort, posts { id, result } or { id, error } and increments ctrl[1]. ctrl[2] is 1
// once ready, -1 when stopped.
"use strict";
const { workerData, receiveMessageOnPort } = require("node:worker_threads");
require("./ts-register.cjs");

const { handlers: handlersPath, backend, ctrl, port } = workerData;
const SPIN_MS = 0.5;

function reply(message, transfer) {
  port.postMessage(message, transfer);
  Atomics.add(ctrl, 1, 1);
  Atomics.notify(ctrl, 1);
}

// One request, answered. (Kept apart from the waiting loop so that V8 optimises it as a normal
// function: the loop itself runs for the helper's whole life and is never entered twice.)
function handle(handlers) {
  const request = receiveMessageOnPort(port);
  const id = request?.message?.id;
  try {
    if (request === undefined) throw new Error("a request arrived without a message (internal error)");
    const { job, args } = request.message;
    const handler = handlers[job];
    if (typeof handler !== "function") throw new Error(`a helper thread has no job called ${JSON.stringify(job)}`);
    const { result, transfer } = handler(args);
    reply({ id, result }, transfer ?? []);
  } catch (err) {
    reply({ id, error: err instanceof Error ? err.message : String(err) }, []);
  }
}

/** Waits until request number `seen + 1` has been sent; false once the helper is stopped. */
function nextRequest(seen) {
  // The next request of a training loop comes within a fraction of a millisecond: look for it for a
  // short while before sleeping (waking a sleeping thread costs tens of microseconds or more).
  const spinUntil = performance.now() + SPIN_MS;
  while (Atomics.load(ctrl, 0) === seen && performance.now() < spinUntil);
  while (Atomics.load(ctrl, 0) === seen) {
    if (Atomics.load(ctrl, 2) === -1) return false;
    Atomics.wait(ctrl, 0, seen, 1000);
  }
  return Atomics.load(ctrl, 2) !== -1;
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
    Atomics.store(ctrl, 2, -1);
    Atomics.notify(ctrl, 2);
    return;
  }
  Atomics.store(ctrl, 2, 1);
  Atomics.notify(ctrl, 2);
  serve(handlers.jobs);
})();

process.on("exit", () => {
  Atomics.store(ctrl, 2, -1);
  Atomics.notify(ctrl, 1);
});
