// The autograder's helper inside the student's kernel (the jail): it reads the names an exercise
// asks for and prints them as data (capture), and answers the clean checker's calls on the
// student's functions and objects (serve). The grader inserts the cells that call it; nothing it
// prints is trusted: the checker validates every value and runs the hidden checks in a process that
// never ran student code.
"use strict";
const { Pipe, Endpoint } = require("./rpc.cjs");
const { libraryHooks } = require("./hooks.cjs");

const MARK = "@@fm-grade-capture@@";
const IO = process.env.FM_GRADING_IO || "/run/io"; // set only without a jail (--no-jail)

const endpoint = new Endpoint(null);
let fm = null;

/** Gives the helper the notebook's library (tensors and models are sent as their numbers). */
function setup(library) {
  fm = library;
  if (!fm) return;
  libraryHooks(endpoint, fm);
  endpoint.todo = (v) => {
    try {
      void v.__fmGradingProbe;
      return null;
    } catch (e) {
      return e && e.name === "TodoError" ? String(e.message) : null;
    }
  };
}

/** Prints exercise `n`'s names as one line of data for the grader. */
function capture(n, names) {
  const locals = globalThis.__tslab__ && globalThis.__tslab__.exports;
  const values = {};
  for (const name of names) {
    if (!locals || !Object.prototype.hasOwnProperty.call(locals, name)) {
      values[name] = {
        $: "missing",
        message: `${name} is not defined (define it in the TODO cell of exercise ${n})`,
      };
      continue;
    }
    try {
      values[name] = endpoint.encode(locals[name]);
    } catch (e) {
      values[name] = {
        $: "unreadable",
        message: `${name} could not be read: ${e && e.message ? e.message : e}`,
      };
    }
  }
  console.log(MARK + JSON.stringify({ exercise: n, values }));
}

/** Prints values given by name (a test's variant of an exercise's answer) under the key `id`. */
function captureFrom(id, named) {
  const values = {};
  for (const name of Object.keys(named)) {
    try {
      values[name] = endpoint.encode(named[name]);
    } catch (e) {
      values[name] = {
        $: "unreadable",
        message: `${name} could not be read: ${e && e.message ? e.message : e}`,
      };
    }
  }
  console.log(MARK + JSON.stringify({ exercise: id, values }));
}

/** Answers the checker's calls on channel `n` until it says it is done. */
function serve(n) {
  const pipe = new Pipe(`${IO}/rpc-${n}.req`, `${IO}/rpc-${n}.resp`, { blocking: true });
  endpoint.pipe = pipe;
  try {
    endpoint.serve();
  } finally {
    pipe.close();
    endpoint.pipe = null;
  }
}

module.exports = { setup, capture, captureFrom, serve, MARK };
