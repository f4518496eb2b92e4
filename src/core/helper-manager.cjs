// The manager thread of the helper threads (see threads.ts): starts each helper for the main thread
// and watches it. When a helper's thread ends for any reason (terminated, crashed, out of memory),
// the manager posts why on the status port and marks the helper's counters at once (ctrl[3] = 1,
// waking whoever sleeps on them), so that a main thread blocked waiting for that helper learns of
// it without its event loop. Plain JavaScript; it loads nothing else and does no work of its own.
"use strict";
const { Worker, parentPort, workerData } = require("node:worker_threads");

const EXITED = 3;
const { status } = workerData;
/** id -> { worker, ctrl, error, reason } */
const helpers = new Map();

/** A worker's "error" event, in words. */
function describe(err) {
  if (err && err.code === "ERR_WORKER_OUT_OF_MEMORY") {
    return `it ran out of memory (${err.message})`;
  }
  if (err instanceof Error) return `it crashed: ${err.name}: ${err.message}`;
  return `it crashed: ${String(err)}`;
}

function ended(id, code) {
  const entry = helpers.get(id);
  if (entry === undefined) return;
  helpers.delete(id);
  const cause =
    entry.error ??
    entry.reason ??
    (code === 0 ? "its thread ended" : `its thread ended with exit code ${code}`);
  status.postMessage({ id, cause });
  Atomics.store(entry.ctrl, EXITED, 1);
  for (let slot = 0; slot < entry.ctrl.length; slot++) Atomics.notify(entry.ctrl, slot);
}

function startHelper({ id, script, resourceLimits, workerData: data }) {
  const entry = { worker: null, ctrl: data.ctrl, error: null, reason: null };
  helpers.set(id, entry);
  try {
    entry.worker = new Worker(script, {
      workerData: data,
      transferList: [data.port],
      resourceLimits,
    });
  } catch (err) {
    entry.error = `it could not be started: ${err instanceof Error ? err.message : String(err)}`;
    ended(id, 1);
    return;
  }
  entry.worker.on("error", (err) => {
    entry.error = describe(err);
  });
  entry.worker.on("exit", (code) => ended(id, code));
}

parentPort.on("message", (message) => {
  if (message.type === "start") startHelper(message);
  else if (message.type === "terminate") {
    const entry = helpers.get(message.id);
    if (entry === undefined || entry.worker === null) return;
    entry.reason = message.reason ?? "it was terminated (from outside the library)";
    void entry.worker.terminate();
  }
});
