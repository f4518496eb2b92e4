// The clean checker's side of the autograder. It runs in a course kernel that executed only the
// TA's reference notebook (never a line of student code); the hidden checks run here, on the values
// the student's kernel printed (data, validated against the types the exercise declares) and on
// proxies that call the student's functions in their jail (rpc.cjs). A function an exercise asks
// for is also compared with the reference solution on inputs drawn from a secret seed at grading
// time (`differential`), so knowing a check's text does not help.
"use strict";
const fs = require("fs");
const { Pipe, Endpoint } = require("./rpc.cjs");
const { WireError } = require("./codec.cjs");
const { libraryHooks } = require("./hooks.cjs");

class GradingError extends Error {
  constructor(message) {
    super(message);
    this.name = "GradingError";
  }
}

let fm = null;
let session = null; // { io, captures: Map<exercise, {name: wire}>, callTimeoutMs, endpoints: Map }

/** Gives the checker the reference notebook's library (tensors and models are rebuilt with it). */
function setup(library) {
  fm = library;
}

/**
 * Starts checking one student's notebook: `valuesFile` holds what their kernel printed
 * ({exercise: {name: wire}}), `io` the folder of the pipes to their kernel.
 */
function begin(valuesFile, io, { callTimeoutMs = 20000 } = {}) {
  for (const pipe of session ? session.pipes : []) pipe.close();
  const raw = JSON.parse(fs.readFileSync(valuesFile, "utf8"));
  const captures = new Map();
  for (const [k, v] of Object.entries(raw && typeof raw === "object" ? raw : {})) {
    if (/^\d+$/.test(k) && v && typeof v === "object" && !Array.isArray(v))
      captures.set(Number(k), v);
  }
  session = { io, captures, callTimeoutMs, endpoints: new Map(), pipes: [] };
}

function endpointFor(n) {
  if (!session.endpoints.has(n)) {
    const endpoint = new Endpoint(null, { callTimeoutMs: session.callTimeoutMs });
    libraryHooks(endpoint, fm);
    let pipe = null;
    // The pipes open on first use: an exercise whose values are plain data never touches them.
    Object.defineProperty(endpoint, "pipe", {
      get: () => {
        if (!pipe)
          session.pipes.push(
            (pipe = new Pipe(`${session.io}/rpc-${n}.resp`, `${session.io}/rpc-${n}.req`, {
              blocking: false,
            })),
          );
        return pipe;
      },
      set: (p) => (pipe = p),
    });
    session.endpoints.set(n, endpoint);
  }
  return session.endpoints.get(n);
}

function hasNonFinite(v, depth = 0) {
  if (depth > 24) return false;
  if (typeof v === "number") return !Number.isFinite(v);
  if (Array.isArray(v)) return v.some((x) => hasNonFinite(x, depth + 1));
  if (ArrayBuffer.isView(v)) return Array.prototype.some.call(v, (x) => !Number.isFinite(x));
  if (fm && v instanceof fm.tf.Tensor)
    return (
      !v.isDisposed &&
      v.dtype === "float32" &&
      Array.prototype.some.call(v.dataSync(), (x) => !Number.isFinite(x))
    );
  if (v && typeof v === "object") return Object.keys(v).some((k) => hasNonFinite(v[k], depth + 1));
  return false;
}

const KIND = (v) =>
  v === undefined
    ? "undefined (did the cell that defines it fail?)"
    : v === null
      ? "null"
      : Array.isArray(v)
        ? "an array"
        : fm && v instanceof fm.tf.Tensor
          ? `a tensor of shape [${v.shape}]`
          : typeof v === "function"
            ? "a function"
            : typeof v === "object"
              ? "an object"
              : `a ${typeof v}`;

/** null when `v` fits the descriptor `d` (see exercises.mjs describeType), else what is wrong. */
function misfit(v, d, where, depth = 0) {
  if (!d || d.t === "any" || depth > 12) return null;
  switch (d.t) {
    case "number":
    case "string":
    case "boolean":
    case "undefined":
      return typeof v === d.t ? null : `${where} should be a ${d.t}; got ${KIND(v)}`;
    case "null":
      return v === null ? null : `${where} should be null; got ${KIND(v)}`;
    case "union": {
      const misses = d.of.map((o) => misfit(v, o, where, depth + 1));
      return misses.some((m) => m === null)
        ? null
        : `${where} should be ${d.text || "one of its declared types"}; got ${KIND(v)}`;
    }
    case "array": {
      if (!Array.isArray(v)) return `${where} should be an array; got ${KIND(v)}`;
      for (let i = 0; i < v.length; i++) {
        const m = misfit(v[i], d.of, `${where}[${i}]`, depth + 1);
        if (m) return m;
      }
      return null;
    }
    case "tuple": {
      if (!Array.isArray(v)) return `${where} should be an array of ${d.of.length}; got ${KIND(v)}`;
      if (v.length !== d.of.length)
        return `${where} should have ${d.of.length} entries; got ${v.length}`;
      for (let i = 0; i < v.length; i++) {
        const m = misfit(v[i], d.of[i], `${where}[${i}]`, depth + 1);
        if (m) return m;
      }
      return null;
    }
    case "tensor":
      if (!(v instanceof fm.tf.Tensor)) return `${where} should be a tensor; got ${KIND(v)}`;
      return d.rank == null || v.rank === d.rank
        ? null
        : `${where} should be a tensor of rank ${d.rank}; got shape [${v.shape}]`;
    case "model":
      return v instanceof fm.VelocityModel
        ? null
        : `${where} should be a velocity model; got ${KIND(v)}`;
    case "typed":
      return ArrayBuffer.isView(v) ? null : `${where} should be a typed array; got ${KIND(v)}`;
    case "function":
      return typeof v === "function" ? null : `${where} should be a function; got ${KIND(v)}`;
    case "object": {
      if (v === null || (typeof v !== "object" && typeof v !== "function"))
        return `${where} should be an object; got ${KIND(v)}`;
      // their object, reached through calls
      if (typeof v === "function" || !isDecodedObject(v)) return null;
      for (const [k, pd] of Object.entries(d.props || {})) {
        const m = misfit(
          v[k],
          pd.optional && v[k] === undefined ? { t: "any" } : pd.d,
          `${where}.${k}`,
          depth + 1,
        );
        if (m) return m;
      }
      return null;
    }
    default:
      return null;
  }
}

const decoded = new WeakSet();
const isDecodedObject = (v) => decoded.has(v);

function placeholderError(kind, name, n, message) {
  if (kind === "todo") {
    const e = new Error(message || `TODO (exercise ${n}): ${name} is still a placeholder`);
    e.name = "TodoError";
    return e;
  }
  return new GradingError(message || `${name}: not readable`);
}

/**
 * Exercise `n`'s check: `spec.names` maps each name the check reads to { from: exercise, d:
 * descriptor }; `spec.reference()` returns the reference solution's values (for the finiteness rule
 * and `differential`).
 */
function exercise(n, spec) {
  if (!session) throw new GradingError("the grader did not load this student's values");
  const endpoint = endpointFor(n);
  const cache = new Map();
  let reference = null;
  const referenceValues = () => (reference ??= spec.reference ? spec.reference() : {});
  const get = (name) => {
    if (cache.has(name)) return cache.get(name);
    const info = spec.names[name];
    if (!info) throw new GradingError(`the check reads ${name}, which no exercise declares`);
    const wire = (session.captures.get(info.from) || {})[name];
    if (wire === undefined)
      throw new GradingError(
        `${name} was not read from your notebook ` +
          `(the cells of exercise ${info.from} did not finish)`,
      );
    let value;
    try {
      value = endpoint.decode(wire, {
        todo: (message) => {
          throw placeholderError("todo", name, info.from, message);
        },
        missing: (message) => {
          throw placeholderError("missing", name, info.from, message);
        },
        unreadable: (message) => {
          throw placeholderError("unreadable", name, info.from, message);
        },
      });
    } catch (e) {
      if (e instanceof WireError) throw new GradingError(`${name} could not be read: ${e.message}`);
      throw e;
    }
    markDecoded(value);
    const wrong = misfit(value, info.d, name);
    if (wrong) throw new GradingError(wrong);
    if (hasNonFinite(value) && !hasNonFinite(referenceValues()[name])) {
      throw new GradingError(
        `${name} holds NaN or an infinite number: a finite answer is expected`,
      );
    }
    cache.set(name, value);
    return value;
  };
  return {
    get,
    /** Compares each student function in `names` with the reference on secret random inputs. */
    differential(names, seedText) {
      const refs = referenceValues();
      for (const name of names) {
        const info = spec.names[name];
        if (!info || !info.d || info.d.t !== "function") continue;
        compareFunctions(name, get(name), refs[name], info.d, seedText);
      }
    },
  };
}

function markDecoded(v, depth = 0) {
  if (depth > 24 || v === null || typeof v !== "object" || (fm && v instanceof fm.tf.Tensor))
    return;
  if (Array.isArray(v)) {
    v.forEach((x) => markDecoded(x, depth + 1));
    return;
  }
  if (Object.getPrototypeOf(v) === Object.prototype && !isRemote(v)) {
    decoded.add(v);
    for (const k of Object.keys(v)) markDecoded(v[k], depth + 1);
  }
}

function isRemote(v) {
  for (const e of session ? session.endpoints.values() : []) if (e.proxies.has(v)) return true;
  return false;
}

// -------------------------------------------------------------------------------------------------
// Functions against the reference, on inputs drawn from a seed the student never sees.

function rng(seedText) {
  let h = 1779033703 ^ seedText.length;
  for (let i = 0; i < seedText.length; i++) {
    h = Math.imul(h ^ seedText.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SPECIAL = [0, 1, 0.5, 0.25, 0.75, -0.5, 1.5, 2, -1, 1e-6, 1 - 1e-6, 3];

/** Makes inputs for a descriptor (null: it cannot). `inner`: numbers inside (0.1, 0.9). */
function generator(d, inner) {
  if (!d) return null;
  if (d.t === "union") {
    const number = d.of.find((o) => o.t === "number");
    return number ? generator(number, inner) : generator(d.of[0], inner);
  }
  if (d.t === "number") {
    return (r) => {
      if (inner) return 0.1 + 0.8 * r();
      const u = r();
      if (u < 0.15) return SPECIAL[Math.floor(r() * SPECIAL.length)];
      if (u < 0.75) return r();
      return -3 + 7 * r();
    };
  }
  if (d.t === "boolean") return (r) => r() < 0.5;
  if (d.t === "array" && d.of && d.of.t === "number")
    return (r) => Array.from({ length: 1 + Math.floor(r() * 6) }, () => -3 + 6 * r());
  if (d.t === "array" && d.of && d.of.t === "array" && d.of.of && d.of.of.t === "number") {
    return (r) => {
      const cols = 2;
      return Array.from({ length: 1 + Math.floor(r() * 6) }, () =>
        Array.from({ length: cols }, () => -3 + 6 * r()),
      );
    };
  }
  if (d.t === "tensor" && (d.rank === 2 || d.rank == null)) {
    return (r) => {
      const n = 8 + Math.floor(r() * 24);
      const values = Array.from({ length: 2 * n }, () => 2 * gaussian(r));
      return fm.tf.tensor2d(values, [n, 2]);
    };
  }
  if (d.t === "function" && d.returns && d.returns.t === "tensor") {
    // A smooth field (x, t) -> tanh(x W + b) (1 + t) with random W, b: something to pass in, and to
    // answer calls on.
    return (r) => {
      const W = Array.from({ length: 4 }, () => gaussian(r));
      const b = [gaussian(r), gaussian(r)];
      return (x, t) =>
        fm.tf.tidy(() => {
          const time = typeof t === "number" ? t : 0.5;
          return fm.tf.mul(
            fm.tf.tanh(fm.tf.add(fm.tf.matMul(x, fm.tf.tensor2d(W, [2, 2])), fm.tf.tensor1d(b))),
            1 + time,
          );
        });
    };
  }
  return null;
}

function gaussian(r) {
  const u = Math.max(r(), 1e-12);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
}

function show(v) {
  if (typeof v === "number") return Number.isInteger(v) ? String(v) : v.toPrecision(6);
  if (Array.isArray(v))
    return `[${v.slice(0, 4).map(show).join(", ")}${v.length > 4 ? ", ..." : ""}]`;
  if (fm && v instanceof fm.tf.Tensor) return `a tensor of shape [${v.shape}]`;
  if (typeof v === "function") return "a function";
  return String(v).slice(0, 60);
}

/** null when the student's result matches the reference's, else how it differs. */
function mismatch(ref, got, d, r, depth = 0) {
  if (depth > 4) return null;
  if (threw(ref) || threw(got)) {
    if (threw(ref) && threw(got)) return null;
    return threw(got)
      ? `failed: ${got[THREW].slice(0, 200)}`
      : `gave ${show(got)} where the right answer is an error`;
  }
  if (typeof ref === "number") {
    if (typeof got !== "number") return `gave ${show(got)} where a number was expected`;
    if (Number.isNaN(ref) && Number.isNaN(got)) return null;
    if (!Number.isFinite(ref) || !Number.isFinite(got))
      return ref === got ? null : `gave ${show(got)}, which is not right`;
    return Math.abs(ref - got) <= 1e-6 * Math.max(1, Math.abs(ref))
      ? null
      : `gave ${show(got)}, which is not right`;
  }
  if (Array.isArray(ref)) {
    if (!Array.isArray(got) || got.length !== ref.length)
      return `gave ${show(got)}: not an array of ${ref.length}`;
    for (let i = 0; i < ref.length; i++) {
      const m = mismatch(ref[i], got[i], d && d.of, r, depth + 1);
      if (m) return m;
    }
    return null;
  }
  if (fm && ref instanceof fm.tf.Tensor) {
    if (!(got instanceof fm.tf.Tensor)) return `gave ${show(got)} where a tensor was expected`;
    if (got.shape.join() !== ref.shape.join())
      return `gave a tensor of shape [${got.shape}]; the right shape is [${ref.shape}]`;
    const a = ref.dataSync();
    const b = got.dataSync();
    let scale = 1;
    for (const x of a) scale = Math.max(scale, Math.abs(x));
    for (let i = 0; i < a.length; i++) {
      const bad = Number.isFinite(a[i])
        ? !(Math.abs(a[i] - b[i]) <= 1e-3 * scale)
        : a[i] !== b[i] && !(Number.isNaN(a[i]) && Number.isNaN(b[i]));
      if (bad) return `gave a tensor that differs from the right one (entry ${i}: ${show(b[i])})`;
    }
    return null;
  }
  if (typeof ref === "function") {
    if (typeof got !== "function") return `gave ${show(got)} where a function was expected`;
    const inner = d && d.t === "function" ? d : null;
    const gens = inner ? inner.params.map((p) => generator(p.d, true)) : null;
    // nothing we can call it with: the author's check decides
    if (!gens || gens.some((g) => !g)) return null;
    for (let k = 0; k < 3; k++) {
      const args = gens.map((g) => g(r));
      const m = mismatch(tryCall(ref, args), tryCall(got, args), inner.returns, r, depth + 1);
      if (m) {
        const called = `called with (${args.map(show).join(", ")})`;
        return `returned a function that, ${called}, ${m.replace(/^gave/, "gives")}`;
      }
    }
    return null;
  }
  if (ref === got) return null;
  if (ref !== null && typeof ref === "object" && got !== null && typeof got === "object") {
    for (const k of Object.keys(ref)) {
      const m = mismatch(ref[k], got[k], null, r, depth + 1);
      if (m) return `.${k} ${m}`;
    }
    return null;
  }
  return `gave ${show(got)}, which is not right`;
}

const THREW = Symbol("threw");
function tryCall(f, args) {
  try {
    return f(...args);
  } catch (e) {
    if (e && e.name === "GradingError") throw e; // the channel broke: not an answer of theirs
    return { [THREW]: e instanceof Error ? e.message : String(e) };
  }
}
const threw = (v) => v !== null && typeof v === "object" && THREW in v;

function compareFunctions(name, student, reference, d, seedText) {
  if (typeof reference !== "function") return;
  const gens = d.params.map((p) => generator(p.d, false));
  if (gens.some((g) => !g)) return; // parameters we cannot draw: the author's check decides alone
  const r = rng(`${seedText}:${name}`);
  const trials = 24;
  for (let k = 0; k < trials; k++) {
    const args = gens.map((g) => g(r));
    const want = tryCall(reference, args);
    const got = tryCall(student, args);
    const call = `${name}(${args.map(show).join(", ")})`;
    if (threw(want) && !threw(got))
      throw assertion(`${call} should fail (its input is not valid); it returned ${show(got)}`);
    if (!threw(want) && threw(got)) throw assertion(`${call} failed: ${got[THREW].slice(0, 200)}`);
    if (threw(want)) continue;
    const m = mismatch(want, got, d.returns, r);
    if (m) throw assertion(`${call} ${m}`);
  }
}

function assertion(message) {
  const e = new Error(`on inputs drawn by the grader: ${message}`);
  e.name = "AssertionError";
  e.code = "ERR_ASSERTION";
  return e;
}

/**
 * For the clean library test run (vitest): the blanked functions' bodies call `call(k, this,
 * arguments)`, which runs the student's k-th function in their jail (library-server.cjs) and
 * returns its answer.
 */
function connectRemote({ io, fm: library, names, callTimeoutMs = 30000 }) {
  fm = library;
  const pipe = new Pipe(`${io}/rpc-lib.resp`, `${io}/rpc-lib.req`, { blocking: false });
  const endpoint = libraryHooks(new Endpoint(pipe, { callTimeoutMs }), library);
  // a late answer to an earlier test file's call never matches
  endpoint.nextId = 1 + Math.floor(Math.random() * 1e9);
  const functions = names.map((name, id) => endpoint.proxy({ id, kind: "function", name }));
  return { call: (k, self, args) => Reflect.apply(functions[k], self, Array.from(args)) };
}

module.exports = { setup, begin, exercise, connectRemote, GradingError, misfit, rng };
