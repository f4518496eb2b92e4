// The autograder's wire format: values and calls between a student's process (the jail) and the
// clean checker, which never runs student code. Shared by both sides (inside.cjs in the jail,
// clean.cjs in the checker); the checker treats everything that arrives as untrusted data.
//
// A value is plain JSON where it can be: numbers (finite), strings, booleans, null and arrays.
// Everything else is an object with a "$" tag:
//   {$: "num", v: "NaN" | "Infinity" | "-Infinity"}      a non-finite number
//   {$: "undef"}                                         undefined
//   {$: "obj", e: [[key, value], ...]}                   a plain object (keys as data, never code)
//   {$: "typed", type: "Float32Array" | ..., b64}        a typed array (little-endian bytes)
//   {$: "tensor", dtype, shape, b64}                     a TensorFlow.js tensor (float32, int32,
//                                                        bool);
//                                                        {..., disposed: true} for a disposed one
//   {$: "model", config, theta: b64}                     a course VelocityModel (its parameters)
//   {$: "ref", id, kind: "function" | "class" | "object", name}
//                                                        what only its own side can run: the other
//                                                        side gets a proxy that calls back
//   {$: "ref", id, kind: "own"}                          the receiver's own value, sent back
//   {$: "todo", message}                                 an fm.todo placeholder never replaced
//   {$: "missing", message}                              a name the notebook does not define
//   {$: "unreadable", message}                           reading the value threw
// Messages on a channel are one JSON object each, framed by a 4-byte big-endian length.
"use strict";

const LIMITS = {
  depth: 24,
  arrayLength: 5_000_000,
  stringLength: 1_000_000,
  elements: 20_000_000, // numbers in one value, summed over arrays, typed arrays and tensors
  messageBytes: 256 * 1024 * 1024,
};

const TYPED = {
  Float32Array,
  Float64Array,
  Int8Array,
  Int16Array,
  Int32Array,
  Uint8Array,
  Uint16Array,
  Uint32Array,
  Uint8ClampedArray,
};
const TENSOR_DTYPES = { float32: Float32Array, int32: Int32Array, bool: Uint8Array };

class WireError extends Error {
  constructor(message) {
    super(message);
    this.name = "WireError";
  }
}

function bytesToB64(view) {
  return Buffer.from(view.buffer, view.byteOffset, view.byteLength).toString("base64");
}

function b64ToTyped(b64, Type, expected) {
  if (typeof b64 !== "string") throw new WireError("binary data must be base64 text");
  const bytes = Buffer.from(b64, "base64");
  if (bytes.length % Type.BYTES_PER_ELEMENT !== 0)
    throw new WireError("binary data has a partial element");
  const n = bytes.length / Type.BYTES_PER_ELEMENT;
  if (expected !== undefined && n !== expected)
    throw new WireError(`binary data holds ${n} numbers; its shape needs ${expected}`);
  const out = new Type(n);
  new Uint8Array(out.buffer).set(bytes);
  return out;
}

function describeNumber(v) {
  return Number.isNaN(v) ? "NaN" : v > 0 ? "Infinity" : "-Infinity";
}

function isPlainObject(v) {
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * Encodes a value for the wire. `hooks`: { pre(v) -> wire | null (checked first, for objects and
 * functions), tensor(v) -> {dtype, shape, data, disposed} | null, model(v) -> {config, theta} |
 * null, ref(v) -> {id, kind, name} }.
 */
function encode(value, hooks, state = { elements: 0 }, depth = 0) {
  if (depth > LIMITS.depth) throw new WireError(`nested deeper than ${LIMITS.depth} levels`);
  const t = typeof value;
  if (t === "number")
    return Number.isFinite(value) ? value : { $: "num", v: describeNumber(value) };
  if (t === "string") {
    if (value.length > LIMITS.stringLength)
      throw new WireError(`a string of ${value.length} characters (limit ${LIMITS.stringLength})`);
    return value;
  }
  if (t === "boolean" || value === null) return value;
  if (t === "undefined") return { $: "undef" };
  if (t === "bigint" || t === "symbol") throw new WireError(`a ${t} cannot be sent`);
  const pre = hooks.pre && hooks.pre(value); // the other side's proxies, fm.todo placeholders
  if (pre) return pre;
  if (Array.isArray(value)) {
    if (value.length > LIMITS.arrayLength)
      throw new WireError(`an array of ${value.length} entries (limit ${LIMITS.arrayLength})`);
    state.elements += value.length;
    if (state.elements > LIMITS.elements)
      throw new WireError(`more than ${LIMITS.elements} numbers`);
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) out[i] = encode(value[i], hooks, state, depth + 1);
    return out;
  }
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
    const type = Object.keys(TYPED).find((k) => value instanceof TYPED[k]);
    if (!type) throw new WireError("an unsupported typed array");
    state.elements += value.length;
    if (state.elements > LIMITS.elements)
      throw new WireError(`more than ${LIMITS.elements} numbers`);
    return { $: "typed", type, b64: bytesToB64(value) };
  }
  const tensor = hooks.tensor && hooks.tensor(value);
  if (tensor) {
    if (!TENSOR_DTYPES[tensor.dtype]) throw new WireError(`a tensor of dtype ${tensor.dtype}`);
    if (tensor.disposed)
      return { $: "tensor", dtype: tensor.dtype, shape: tensor.shape, disposed: true };
    state.elements += tensor.data.length;
    if (state.elements > LIMITS.elements)
      throw new WireError(`more than ${LIMITS.elements} numbers`);
    const data =
      tensor.data instanceof TENSOR_DTYPES[tensor.dtype]
        ? tensor.data
        : TENSOR_DTYPES[tensor.dtype].from(tensor.data);
    return { $: "tensor", dtype: tensor.dtype, shape: tensor.shape, b64: bytesToB64(data) };
  }
  const model = hooks.model && hooks.model(value);
  if (model)
    return {
      $: "model",
      config: encode(model.config, hooks, state, depth + 1),
      theta: bytesToB64(model.theta),
    };
  if (t === "object" && isPlainObject(value)) {
    const entries = [];
    for (const key of Object.keys(value))
      entries.push([key, encode(value[key], hooks, state, depth + 1)]);
    return { $: "obj", e: entries };
  }
  if (!hooks.ref)
    throw new WireError(`a ${t === "function" ? "function" : "class instance"} cannot be sent`);
  return { $: "ref", ...hooks.ref(value) };
}

/**
 * Decodes a wire value, checking every piece. `hooks`: { tensor({dtype, shape, data, disposed}),
 * model({config, theta}), ref({id, kind, name}), todo(message), missing(message),
 * unreadable(message) }; a tag without a hook is refused.
 */
function decode(wire, hooks, state = { elements: 0 }, depth = 0) {
  if (depth > LIMITS.depth) throw new WireError(`nested deeper than ${LIMITS.depth} levels`);
  if (wire === null || typeof wire === "boolean") return wire;
  if (typeof wire === "number") {
    if (!Number.isFinite(wire)) throw new WireError("a non-finite number outside its tag");
    return wire;
  }
  if (typeof wire === "string") {
    if (wire.length > LIMITS.stringLength) throw new WireError("a string over the length limit");
    return wire;
  }
  if (Array.isArray(wire)) {
    if (wire.length > LIMITS.arrayLength) throw new WireError("an array over the length limit");
    state.elements += wire.length;
    if (state.elements > LIMITS.elements)
      throw new WireError(`more than ${LIMITS.elements} numbers`);
    return wire.map((w) => decode(w, hooks, state, depth + 1));
  }
  if (typeof wire !== "object") throw new WireError(`a ${typeof wire} on the wire`);
  const tag = wire.$;
  switch (tag) {
    case "num": {
      const v = { NaN: NaN, Infinity: Infinity, "-Infinity": -Infinity }[wire.v];
      if (v === undefined) throw new WireError(`an unknown number ${JSON.stringify(wire.v)}`);
      return v;
    }
    case "undef":
      return undefined;
    case "obj": {
      if (!Array.isArray(wire.e)) throw new WireError("an object without entries");
      const out = {};
      for (const entry of wire.e) {
        if (!Array.isArray(entry) || entry.length !== 2 || typeof entry[0] !== "string")
          throw new WireError("a malformed object entry");
        // defineProperty: a key such as "__proto__" stays a plain own property, never a prototype.
        Object.defineProperty(out, entry[0], {
          value: decode(entry[1], hooks, state, depth + 1),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return out;
    }
    case "typed": {
      const Type = Object.prototype.hasOwnProperty.call(TYPED, wire.type) ? TYPED[wire.type] : null;
      if (!Type) throw new WireError(`an unknown typed array ${JSON.stringify(wire.type)}`);
      const out = b64ToTyped(wire.b64, Type);
      state.elements += out.length;
      if (state.elements > LIMITS.elements)
        throw new WireError(`more than ${LIMITS.elements} numbers`);
      return out;
    }
    case "tensor": {
      const Type = Object.prototype.hasOwnProperty.call(TENSOR_DTYPES, wire.dtype)
        ? TENSOR_DTYPES[wire.dtype]
        : null;
      if (!Type) throw new WireError(`a tensor of dtype ${JSON.stringify(wire.dtype)}`);
      if (
        !Array.isArray(wire.shape) ||
        wire.shape.length > 6 ||
        !wire.shape.every((d) => Number.isInteger(d) && d >= 0 && d <= LIMITS.elements)
      ) {
        throw new WireError("a tensor with a malformed shape");
      }
      const size = wire.shape.reduce((a, b) => a * b, 1);
      if (size > LIMITS.elements) throw new WireError("a tensor over the size limit");
      if (!hooks.tensor) throw new WireError("a tensor where none can be read");
      // A disposed tensor is rebuilt with its shape too: it counts towards the limit like data.
      state.elements += size;
      if (state.elements > LIMITS.elements)
        throw new WireError(`more than ${LIMITS.elements} numbers`);
      if (wire.disposed === true)
        return hooks.tensor({
          dtype: wire.dtype,
          shape: wire.shape.slice(),
          data: null,
          disposed: true,
        });
      const data = b64ToTyped(wire.b64, Type, size);
      return hooks.tensor({ dtype: wire.dtype, shape: wire.shape.slice(), data, disposed: false });
    }
    case "model": {
      if (!hooks.model) throw new WireError("a model where none can be read");
      return hooks.model({
        config: decode(wire.config, {}, state, depth + 1),
        theta: b64ToTyped(wire.theta, Float32Array),
      });
    }
    case "ref": {
      if (!hooks.ref) throw new WireError("a function or object where only data can be read");
      if (!Number.isInteger(wire.id) || wire.id < 0) throw new WireError("a malformed reference");
      const kind = ["function", "class", "object", "own"].includes(wire.kind) ? wire.kind : null;
      if (!kind) throw new WireError("a reference of an unknown kind");
      const name = typeof wire.name === "string" ? wire.name.slice(0, 200) : "";
      return hooks.ref({ id: wire.id, kind, name });
    }
    case "todo":
    case "missing":
    case "unreadable": {
      const message = typeof wire.message === "string" ? wire.message.slice(0, 2000) : "";
      if (!hooks[tag]) throw new WireError(`a ${tag} value here`);
      return hooks[tag](message);
    }
    default:
      throw new WireError(`an unknown tag ${JSON.stringify(String(tag)).slice(0, 40)}`);
  }
}

/** One message as bytes: 4-byte big-endian length, then UTF-8 JSON. */
function frame(message) {
  const body = Buffer.from(JSON.stringify(message), "utf8");
  if (body.length > LIMITS.messageBytes)
    throw new WireError(`a message of ${body.length} bytes (limit ${LIMITS.messageBytes})`);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

module.exports = { LIMITS, WireError, encode, decode, frame, isPlainObject, describeNumber };
