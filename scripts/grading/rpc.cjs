// Calls between the clean checker and a student's process over two named pipes (FIFOs), synchronous
// on both ends: a hidden check that calls a student's function gets its answer as a return value,
// and a student's function that calls back (a field the check passed in) is answered while the call
// waits.
//
// The student's side ("server", in the jail) blocks on its reads; the checker's side ("client")
// polls with a deadline, so a student's function that never answers costs a bounded time and marks
// the channel broken. Whatever arrives is decoded by codec.cjs, which runs no code from the other
// side: functions and objects that cannot travel as data stay where they are and are reached
// through proxies (`ref`).
"use strict";
const fs = require("fs");
const { encode, decode, frame, LIMITS, WireError } = require("./codec.cjs");

const sleeper = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms) => Atomics.wait(sleeper, 0, 0, ms);

class ChannelClosed extends Error {
  constructor(message) {
    super(message);
    this.name = "ChannelClosed";
  }
}

/** Framed messages on a pair of FIFOs. `blocking`: the server side; else polls with deadlines. */
class Pipe {
  constructor(readPath, writePath, { blocking }) {
    const flags = fs.constants.O_RDWR | (blocking ? 0 : fs.constants.O_NONBLOCK);
    // O_RDWR: opening never waits for the other end, and a reader always has a writer (no EOF).
    this.rfd = fs.openSync(readPath, flags);
    this.wfd = fs.openSync(writePath, flags);
    this.blocking = blocking;
  }

  readExactly(n, deadline, what) {
    const buf = Buffer.alloc(n);
    let off = 0;
    let pause = 0.05;
    while (off < n) {
      let k = 0;
      try {
        k = fs.readSync(this.rfd, buf, off, n - off, null);
      } catch (e) {
        if (e.code !== "EAGAIN" && e.code !== "EWOULDBLOCK") throw e;
      }
      if (k > 0) {
        off += k;
        pause = 0.05;
        continue;
      }
      if (deadline !== null && Date.now() > deadline) throw new ChannelClosed(`no answer ${what}`);
      sleep(pause);
      pause = Math.min(pause * 2, 2);
    }
    return buf;
  }

  receive(deadline, what) {
    const head = this.readExactly(4, deadline, what);
    const length = head.readUInt32BE(0);
    if (length > LIMITS.messageBytes)
      throw new WireError(`a message of ${length} bytes (limit ${LIMITS.messageBytes})`);
    const body = this.readExactly(length, deadline, what);
    let message;
    try {
      message = JSON.parse(body.toString("utf8"));
    } catch {
      throw new WireError("a message that is not JSON");
    }
    if (!message || typeof message !== "object" || Array.isArray(message))
      throw new WireError("a message that is not an object");
    return message;
  }

  send(message, deadline) {
    const bytes = frame(message);
    let off = 0;
    while (off < bytes.length) {
      let k = 0;
      try {
        k = fs.writeSync(this.wfd, bytes, off, bytes.length - off);
      } catch (e) {
        if (e.code !== "EAGAIN" && e.code !== "EWOULDBLOCK") throw e;
      }
      off += k;
      if (off < bytes.length && k === 0) {
        if (deadline !== null && Date.now() > deadline)
          throw new ChannelClosed("the other side stopped reading");
        sleep(1);
      }
    }
  }

  close() {
    for (const fd of [this.rfd, this.wfd]) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
  }
}

/**
 * One end of a call channel. `codecHooks(endpoint)` -> { encode: hooks, decode: hooks } for this
 * side (tensors and models as this side's library makes them; references through `endpoint`).
 */
class Endpoint {
  constructor(pipe, { callTimeoutMs = null, describe = (id) => `#${id}` } = {}) {
    this.pipe = pipe;
    this.callTimeoutMs = callTimeoutMs;
    this.describe = describe;
    this.nextId = 1;
    this.local = []; // id -> value this side holds for the other side
    this.localIds = new Map();
    this.broken = null;
    this.tensor = null; // { encode(v) -> {...} | null, decode(spec) -> tensor } set by the owner
    this.model = null;
    this.todo = null;
    this.proxies = new WeakMap(); // proxy -> the other side's id
  }

  /** This side's handle for `value` (a function or object the other side may call or read). */
  handle(value) {
    if (this.localIds.has(value)) return this.localIds.get(value);
    const id = this.local.length;
    this.local.push(value);
    this.localIds.set(value, id);
    return id;
  }

  encodeHooks() {
    return {
      tensor: this.tensor ? (v) => this.tensor.encode(v) : null,
      model: this.model ? (v) => this.model.encode(v) : null,
      pre: (v) => {
        if (this.proxies.has(v)) return { $: "ref", id: this.proxies.get(v), kind: "own" };
        const todo = this.todo && this.todo(v);
        return todo ? { $: "todo", message: todo } : null;
      },
      ref: (v) => {
        const kind =
          typeof v === "function"
            ? /^class[\s{]/.test(Function.prototype.toString.call(v))
              ? "class"
              : "function"
            : "object";
        const name =
          typeof v === "function"
            ? v.name
            : v && v.constructor && typeof v.constructor.name === "string"
              ? v.constructor.name
              : "";
        return { id: this.handle(v), kind, name };
      },
    };
  }

  encode(value) {
    const wire = encode(value, this.encodeHooks());
    return wire;
  }

  decodeHooks(extra = {}) {
    return {
      tensor: this.tensor ? (spec) => this.tensor.decode(spec) : null,
      model: this.model ? (spec) => this.model.decode(spec) : null,
      ref: (ref) => this.proxy(ref),
      ...extra,
    };
  }

  decode(wire, extra) {
    return decode(wire, this.decodeHooks(extra));
  }

  /** A stand-in for what the other side holds: every use becomes a call on the channel. */
  proxy(ref) {
    const endpoint = this;
    if (ref.kind === "own") {
      if (!(ref.id < this.local.length))
        throw new WireError("a reference to something this side never sent");
      return this.local[ref.id];
    }
    const target = ref.kind === "object" ? {} : function remote() {};
    const proxy = new Proxy(target, {
      get(_t, key) {
        if (typeof key === "symbol") return undefined;
        if (key === "then") return undefined; // never a thenable: `await value` gives the value
        return endpoint.request(
          { op: "get", target: ref.id, key: String(key) },
          `reading .${String(key)} of ${ref.name || "your value"}`,
        );
      },
      has() {
        return false;
      },
      set() {
        return false;
      },
      apply(_t, self, args) {
        return endpoint.request(
          {
            op: "call",
            target: ref.id,
            self: self === undefined ? { $: "undef" } : endpoint.encode(self),
            args: endpoint.encode(args),
          },
          `calling ${ref.name || "your function"}`,
        );
      },
      construct(_t, args) {
        return endpoint.request(
          { op: "construct", target: ref.id, args: endpoint.encode(args) },
          `constructing ${ref.name || "your class"}`,
        );
      },
    });
    this.proxies.set(proxy, ref.id);
    return proxy;
  }

  /** Sends a request and waits for its answer, serving the other side's calls meanwhile. */
  request(message, what) {
    if (this.broken) throw new ChannelClosed(`${this.broken} (earlier); not ${what}`);
    const id = this.nextId++;
    const deadline = this.callTimeoutMs === null ? null : Date.now() + this.callTimeoutMs;
    try {
      this.pipe.send({ ...message, id }, deadline);
      for (;;) {
        const reply = this.pipe.receive(deadline, `${what} within ${this.callTimeoutMs / 1000} s`);
        if ((reply.op === "return" || reply.op === "throw") && reply.id === id) {
          if (reply.op === "return") return this.decode(reply.value);
          const err = new Error(
            typeof reply.message === "string"
              ? reply.message.slice(0, 4000)
              : "an error without a message",
          );
          if (reply.name === "TodoError") err.name = "TodoError";
          throw err;
        }
        if (reply.op === "call" || reply.op === "get" || reply.op === "construct")
          this.answer(reply, deadline);
        // anything else is a late answer to an abandoned call: dropped
      }
    } catch (e) {
      if (e instanceof ChannelClosed || e instanceof WireError) {
        this.broken =
          e instanceof WireError ? `an unreadable answer while ${what}: ${e.message}` : e.message;
        const err = new Error(this.broken);
        err.name = "GradingError";
        throw err;
      }
      throw e;
    }
  }

  /** Answers one call of the other side on one of this side's values. */
  answer(message, deadline) {
    let reply;
    try {
      const value = this.local[message.target];
      if (!Number.isInteger(message.target) || message.target >= this.local.length)
        throw new WireError("a call on something this side never sent");
      let result;
      if (message.op === "get") {
        if (typeof message.key !== "string")
          throw new WireError("a property name that is not text");
        result = value[message.key];
      } else if (message.op === "construct") {
        result = Reflect.construct(value, this.decode(message.args));
      } else {
        const self = this.decode(message.self);
        result = Reflect.apply(value, self, this.decode(message.args));
      }
      reply = { op: "return", id: message.id, value: this.encode(result) };
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      reply = {
        op: "throw",
        id: message.id,
        message: String(err.message).slice(0, 4000),
        name: String(err.name).slice(0, 100),
      };
    }
    this.pipe.send(reply, deadline);
  }

  /** The server's loop: answers calls until the other side says "done". */
  serve() {
    for (;;) {
      const message = this.pipe.receive(null, "");
      if (message.op === "done") return;
      if (message.op === "call" || message.op === "get" || message.op === "construct")
        this.answer(message, null);
    }
  }
}

module.exports = { Pipe, Endpoint, ChannelClosed, sleep };
