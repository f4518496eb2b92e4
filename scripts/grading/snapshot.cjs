// The reference state's snapshot, the kernel's side (see reference-state.mjs for the plan). In a
// clean kernel that ran the TA's reference notebook, `survey` writes, for each name the hidden
// checks may depend on, a fingerprint of its value and, when the value is data (numbers, arrays,
// plain objects, tensors, course models), its encoding (codec.cjs). In a clean kernel that ran
// only part of the notebook, `restore` rebuilds the encoded values and `survey` again gives the
// fingerprints that must equal the first run's before the snapshot is used.
"use strict";
const fs = require("fs");
const { createHash } = require("crypto");
const { encode, decode, isPlainObject, WireError } = require("./codec.cjs");
const { libraryHooks } = require("./hooks.cjs");

/** Above this many numbers a value is not stored: the cell that makes it runs instead. */
const MAX_STORED_ELEMENTS = 2_000_000;
const MAX_DEPTH = 16;
const MAX_NODES = 2_000_000;

function hooksFor(fm) {
  const endpoint = libraryHooks({}, fm);
  return {
    tensor: endpoint.tensor.encode,
    model: endpoint.model.encode,
    decodeTensor: endpoint.tensor.decode,
    decodeModel: endpoint.model.decode,
  };
}

/**
 * A hash of everything a value holds that code can read: numbers exactly (-0 and NaN too),
 * tensors and typed arrays by their bytes, course models by their architecture and parameters,
 * functions by their source, other objects by their class and own properties (a cycle by its
 * depth; an object reached twice counts twice, as the copies a snapshot rebuilds would). What it
 * cannot see: variables a closure captured, private fields, and the library's memo fields (own
 * properties named `cache` or `cached` of a class instance: values derived from its other fields).
 */
function fingerprint(value, fm) {
  const h = createHash("sha256");
  const path = new Map(); // the objects being walked: a cycle is recorded by its depth
  const skip = new Set([fm, fm && fm.tf].filter(Boolean));
  let budget = MAX_NODES;
  const walk = (v, depth) => {
    if (path.has(v)) return h.update(`@${path.get(v)};`);
    if (typeof v !== "object" && typeof v !== "function") return leaf(v);
    if (--budget < 0) throw new Error(`a value of more than ${MAX_NODES} objects`);
    path.set(v, depth);
    try {
      node(v, depth);
    } finally {
      path.delete(v);
    }
  };
  const leaf = (v) => {
    const t = typeof v;
    if (t === "number") return h.update(`n${Object.is(v, -0) ? "-0" : String(v)};`);
    if (t === "string") return h.update(`s${v.length}:${v};`);
    if (t === "boolean" || t === "undefined" || v === null || t === "bigint")
      return h.update(`${t}${String(v)};`);
    return h.update(`y${String(v)};`);
  };
  const node = (v, depth) => {
    const t = typeof v;
    if (v === null) return h.update("null;");
    if (skip.has(v)) return h.update("library;");
    if (depth > MAX_DEPTH) return h.update("deep;");
    if (fm && v instanceof fm.tf.Tensor) {
      h.update(`T${v.dtype}[${v.shape}]${v.isDisposed ? "disposed" : ""};`);
      if (!v.isDisposed) {
        const data = v.dataSync();
        h.update(Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      }
      return;
    }
    if (fm && fm.VelocityModel && v instanceof fm.VelocityModel) {
      h.update(`M${JSON.stringify(v.config)};`);
      return h.update(Buffer.from(v.theta.buffer, v.theta.byteOffset, v.theta.byteLength));
    }
    if (ArrayBuffer.isView(v)) {
      h.update(`A${v.constructor.name}${v.byteLength};`);
      return h.update(Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    }
    if (t === "function") h.update(`F${v.name}:${Function.prototype.toString.call(v)};`);
    if (Array.isArray(v)) {
      h.update(`[${v.length};`);
      for (let i = 0; i < v.length; i++) walk(v[i], depth + 1);
      return h.update("];");
    }
    if (v instanceof Map || v instanceof Set) {
      h.update(`${v instanceof Map ? "Map" : "Set"}${v.size};`);
      for (const e of v) walk(e, depth + 1);
      return;
    }
    if (v instanceof WeakMap || v instanceof WeakSet || v instanceof Promise)
      return h.update(`${v.constructor.name};`);
    const proto = Object.getPrototypeOf(v);
    h.update(`O${proto && proto.constructor ? proto.constructor.name : "null"}{`);
    const plain = isPlainObject(v);
    for (const key of Reflect.ownKeys(v)) {
      if (t === "function" && (key === "prototype" || key === "length" || key === "name")) continue;
      // The library's memo fields: what an object derives from its own fields, built on first use.
      if (!plain && (key === "cache" || key === "cached")) continue;
      const d = Object.getOwnPropertyDescriptor(v, key);
      h.update(`${String(key)}:`);
      if (d && "value" in d) walk(d.value, depth + 1);
      else h.update("accessor;");
    }
    h.update("};");
  };
  walk(value, 0);
  return h.digest("hex");
}

/** A value's encoding when it is data small enough to store, else why not (a string). */
function storable(value, hooks) {
  const state = { elements: 0 };
  try {
    const wire = encode(value, { tensor: hooks.tensor, model: hooks.model }, state);
    if (state.elements > MAX_STORED_ELEMENTS)
      return { why: `${state.elements} numbers (more than ${MAX_STORED_ELEMENTS} are not stored)` };
    return { wire };
  } catch (e) {
    return { why: e instanceof WireError ? e.message : `not encodable: ${e && e.message}` };
  }
}

/**
 * Writes {name: {fingerprint, wire?, why?}} for the names `getters` reads ({name: () => value}; a
 * getter that throws, such as a name the notebook never reached, is recorded as missing).
 * `store`: whether to keep the encodings (the full run) or only the fingerprints (the check).
 */
function survey(fm, getters, file, { store = true } = {}) {
  const hooks = hooksFor(fm);
  const out = {};
  for (const [name, get] of Object.entries(getters)) {
    let value;
    try {
      value = get();
    } catch (e) {
      out[name] = { missing: String((e && e.message) || e).slice(0, 300) };
      continue;
    }
    let entry;
    try {
      entry = { fingerprint: fingerprint(value, fm) };
    } catch (e) {
      out[name] = { missing: `no fingerprint: ${e && e.message}` };
      continue;
    }
    if (store) Object.assign(entry, storable(value, hooks));
    out[name] = entry;
  }
  fs.writeFileSync(file, JSON.stringify(out));
  return Object.keys(out).length;
}

/** The stored values of a snapshot file ({restore: {name: wire}}) rebuilt, as a Map. */
function restore(fm, file) {
  const hooks = hooksFor(fm);
  const snapshot = JSON.parse(fs.readFileSync(file, "utf8"));
  const values = new Map();
  for (const [name, wire] of Object.entries(snapshot.restore || {}))
    values.set(name, decode(wire, { tensor: hooks.decodeTensor, model: hooks.decodeModel }));
  return values;
}

/**
 * Gives `current` (a name a kept cell declared with const) the full run's final value `final`, in
 * place: a course model's parameters, an array's entries, a plain object's properties. Throws
 * when that cannot be done; the snapshot's check then fails and the grader runs the notebook.
 */
function assignInPlace(fm, current, final, name) {
  if (
    fm.VelocityModel &&
    current instanceof fm.VelocityModel &&
    final instanceof fm.VelocityModel
  ) {
    if (JSON.stringify(current.config) !== JSON.stringify(final.config))
      throw new Error(`${name}: the model's architecture changed`);
    current.setTheta(final.theta);
    final.dispose();
    return;
  }
  if (Array.isArray(current) && Array.isArray(final)) {
    current.splice(0, current.length, ...final);
    return;
  }
  const plainObject = (v) => v !== null && typeof v === "object" && isPlainObject(v);
  if (plainObject(current) && plainObject(final)) {
    for (const k of Object.keys(current)) delete current[k];
    Object.assign(current, final);
    return;
  }
  if (fingerprint(current, fm) === fingerprint(final, fm)) return;
  throw new Error(`${name}: its final value cannot be given to it in place`);
}

module.exports = { fingerprint, survey, restore, assignInPlace, MAX_STORED_ELEMENTS };
