// Sampling and the training gradient on helper threads (src/core/threads.ts,
// src/model/parallel.ts): the same numbers on any number of threads, no leaks on either side, clear
// errors.
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { availableParallelism } from "os";
import { join } from "path";
import * as tf from "@tensorflow/tfjs";
import { seed, randn } from "../src/core/random";
import { backendInfo } from "../src/core/backend";
import {
  awaitHelpers,
  helpers,
  receive,
  runningHelpers,
  send,
  setHelperHeapLimit,
  setThreads,
  stopThreads,
  terminateHelper,
  threadCount,
  type Helper,
} from "../src/core/threads";
import { createVelocityModel, VelocityModel } from "../src/model/mlp";
import { gradientSums } from "../src/model/backprop";
import {
  HELPER_JOBS,
  MIN_ROWS_PER_THREAD,
  parallelSolve,
  partRows,
  shardedGradientSums,
  startThreads,
} from "../src/model/parallel";
import { sampleFlow } from "../src/model/sample";
import { trainFlowMatching } from "../src/model/train";
import { twoMoons } from "../src/data/toy2d";
import { interruptCounters, interruptible } from "../src/core/interrupt";
import { interrupter } from "./helpers";

const onHelperBackend = () => ["wasm", "cpu"].includes(backendInfo()?.name ?? "");

function differing(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let k = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) k++;
  return k;
}

function helperTensors(): number {
  const [h] = helpers(1, HELPER_JOBS);
  send(h, "numTensors", null);
  return receive<number>(h);
}

beforeAll(async () => {
  setThreads(2);
  await startThreads();
});

afterAll(() => {
  setThreads();
  stopThreads();
});

describe("partRows", () => {
  it(
    "cuts n rows into contiguous parts that differ by at most one row and cover every row " +
      "once",
    () => {
      for (const [n, parts] of [
        [10, 3],
        [256, 2],
        [7, 7],
        [1000, 4],
        [5, 1],
      ]) {
        let next = 0;
        const sizes: number[] = [];
        for (let k = 0; k < parts; k++) {
          const [a, b] = partRows(n, parts, k);
          expect(a).toBe(next);
          next = b;
          sizes.push(b - a);
        }
        expect(next).toBe(n);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }
    },
  );
});

describe("threads", () => {
  it("counts one thread per core by default, follows setThreads, and rejects nonsense", () => {
    setThreads(1);
    expect(threadCount()).toBe(1);
    setThreads(Math.min(2, availableParallelism()));
    expect(threadCount()).toBe(onHelperBackend() ? Math.min(2, availableParallelism()) : 1);
    setThreads("auto");
    expect(threadCount()).toBeGreaterThanOrEqual(1);
    setThreads(); // back to FM_THREADS, else one per core
    expect(() => setThreads(0)).toThrow(/positive integer/);
    expect(() => setThreads(1.5)).toThrow(/positive integer/);
    const saved = process.env.FM_THREADS;
    try {
      process.env.FM_THREADS = "two";
      expect(() => threadCount()).toThrow(/FM_THREADS="two"/);
    } finally {
      if (saved === undefined) delete process.env.FM_THREADS;
      else process.env.FM_THREADS = saved;
    }
  });

  it(
    "starts helpers in the background: the first call runs alone, with the same numbers, and " +
      "later calls share the work",
    async () => {
      if (!onHelperBackend()) return;
      stopThreads();
      setThreads(2);
      seed(6);
      const model = createVelocityModel({ width: 16, depth: 1 });
      const x0 = randn([2 * MIN_ROWS_PER_THREAD, 2]) as tf.Tensor2D;
      const first = sampleFlow(model, { x0, steps: 4 }); // no helper ready yet
      expect(runningHelpers()).toBe(0);
      expect(await startThreads()).toBe(2);
      expect(runningHelpers()).toBe(1);
      const later = sampleFlow(model, { x0, steps: 4 });
      expect(differing(first.x.dataSync(), later.x.dataSync())).toBe(0);
      tf.dispose([first, later, x0]);
    },
  );

  it("a helper that cannot start is an error that says why; the next start works", async () => {
    if (!onHelperBackend()) return;
    setThreads(2);
    await expect(awaitHelpers(1, "/no/such/jobs.ts")).rejects.toThrow(
      /failed to start: .*Cannot find module '\/no\/such\/jobs.ts'/,
    );
    expect(await startThreads()).toBe(2);
  });

  it("reports an error raised inside a helper and keeps answering afterwards", () => {
    if (!onHelperBackend()) return;
    setThreads(2);
    const [h] = helpers(1, HELPER_JOBS);
    send(h, "noSuchJob", null);
    expect(() => receive(h)).toThrow(/no job called "noSuchJob"/);
    expect(helperTensors()).toBeGreaterThanOrEqual(0);
  });
});

describe("more threads than cores", () => {
  it("caps FM_THREADS and setThreads at the core count, with one warning each saying why", () => {
    if (!onHelperBackend()) return;
    const cores = availableParallelism();
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    const saved = process.env.FM_THREADS;
    try {
      setThreads();
      process.env.FM_THREADS = String(cores + 62);
      expect(threadCount()).toBe(cores);
      expect(threadCount()).toBe(cores);
      setThreads(cores + 1);
      expect(threadCount()).toBe(cores);
      expect(warn.mock.calls.map((c) => String(c[0]))).toEqual([
        expect.stringMatching(
          new RegExp(
            `^FM_THREADS=${cores + 62} asks for more threads than this machine has cores ` +
              `\\(${cores}\\); using ${cores}`,
          ),
        ),
        expect.stringMatching(
          new RegExp(`^setThreads\\(${cores + 1}\\) asks for more threads than`),
        ),
      ]);
      // Negative control: at or below the core count nothing is capped and nothing is said.
      setThreads(cores);
      expect(threadCount()).toBe(cores);
      expect(warn).toHaveBeenCalledTimes(2);
    } finally {
      warn.mockRestore();
      if (saved === undefined) delete process.env.FM_THREADS;
      else process.env.FM_THREADS = saved;
      setThreads(2);
    }
  });
});

// A helper that dies (terminated, crashed, out of memory) must never leave a call waiting for it:
// the call fails with the cause, or the library replaces the helper; either way the next call
// works. Each case has a generous hang guard: before the manager thread, these calls waited forever
// (and a vitest time-out cannot stop a thread blocked in a synchronous call), so `waitFor` lets an
// interrupt from another thread end the wait after 120 s: the test then fails with that message
// instead of hanging.
describe.runIf(availableParallelism() >= 2)("helper threads that die", () => {
  const DYING = join(__dirname, "fixtures", "dying-jobs.ts");
  beforeEach((ctx) => {
    if (!onHelperBackend()) ctx.skip(); // the native backends use no helpers
  });

  async function dyingHelper(): Promise<Helper> {
    setThreads(2);
    expect(await awaitHelpers(1, DYING)).toBe(1);
    const [h] = helpers(1, DYING);
    send(h, "ping", null);
    expect(receive(h)).toBe("pong");
    return h;
  }

  /** `receive(h)`, given up after 120 s (the hang guard above). */
  async function waitFor(h: Helper): Promise<() => unknown> {
    const guard = interrupter(interruptCounters(), 120_000, true);
    let outcome: () => unknown;
    try {
      const result = interruptible(() => receive(h));
      outcome = () => result;
    } catch (err) {
      outcome = () => {
        throw err;
      };
    } finally {
      await guard.stop();
    }
    return outcome;
  }

  /** The next call to a fresh helper works (after the dead one was dropped). */
  async function nextOneWorks(dead: Helper): Promise<void> {
    await awaitHelpers(1, DYING);
    const [h] = helpers(1, DYING);
    expect(h.id).not.toBe(dead.id);
    send(h, "ping", null);
    expect(receive(h)).toBe("pong");
  }

  it(
    "terminated while working: the waiting call fails at once, naming the cause; the next " +
      "works",
    async () => {
      const h = await dyingHelper();
      send(h, "busy", 60_000);
      terminateHelper(h);
      expect(await waitFor(h)).toThrow(
        new RegExp(
          String.raw`a helper thread stopped while working on "busy":` +
            String.raw` it was terminated \(from outside the library\)`,
        ),
      );
      await nextOneWorks(h);
    },
    600_000,
  );

  it(
    "crashed (its thread exited in the middle of a job): the call fails naming the exit " + "code",
    async () => {
      const h = await dyingHelper();
      send(h, "exit", null);
      expect(await waitFor(h)).toThrow(
        /stopped while working on "exit": its thread ended with exit code 7/,
      );
      await nextOneWorks(h);
    },
    600_000,
  );

  it(
    "out of memory (its JavaScript heap limit): only the helper dies, and the call says " + "so",
    async () => {
      setHelperHeapLimit(96);
      try {
        stopThreads();
        const h = await dyingHelper();
        send(h, "hog", null);
        expect(await waitFor(h)).toThrow(
          /stopped while working on "hog": it ran out of memory \(.*heap/,
        );
        await nextOneWorks(h);
      } finally {
        setHelperHeapLimit(1024);
        stopThreads();
      }
    },
    600_000,
  );

  it(
    "a failed allocation retires the helper, names the error, and the next call " + "works",
    async () => {
      const h = await dyingHelper();
      send(h, "alloc", null);
      expect(await waitFor(h)).toThrow(
        /a helper thread failed working on "alloc": RangeError: Array buffer allocation failed/,
      );
      expect(helpers(1, DYING).map((x) => x.id)).not.toContain(h.id);
      await nextOneWorks(h);
    },
    600_000,
  );

  it(
    "terminated while idle: replaced with a warning naming the cause; samples stay " + "exact",
    async () => {
      stopThreads();
      setThreads(2);
      seed(21);
      const model = createVelocityModel({ width: 16, depth: 1 });
      const x0 = randn([2 * MIN_ROWS_PER_THREAD, 2]) as tf.Tensor2D;
      setThreads(1);
      const one = sampleFlow(model, { x0, steps: 4 });
      setThreads(2);
      await startThreads();
      const [h] = helpers(1, HELPER_JOBS);
      terminateHelper(h);
      const deadline = Date.now() + 120_000;
      // Until the main thread has seen the end.
      while (runningHelpers() > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(runningHelpers()).toBe(0);
      const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
      const guard = interrupter(interruptCounters(), 120_000, true); // the hang guard (see above)
      let two: ReturnType<typeof sampleFlow>;
      try {
        two = sampleFlow(model, { x0, steps: 4 });
        expect(warn).toHaveBeenCalledTimes(1);
        expect(String(warn.mock.calls[0][0])).toMatch(
          new RegExp(
            String.raw`^a helper thread had stopped: it was terminated ` +
              String.raw`\(from outside the library\)\. A new one is starting`,
          ),
        );
      } finally {
        warn.mockRestore();
        await guard.stop();
      }
      expect(differing(one.x.dataSync(), two.x.dataSync())).toBe(0);
      expect(await startThreads()).toBe(2); // the replacement
      const three = sampleFlow(model, { x0, steps: 4 });
      expect(runningHelpers()).toBe(1);
      expect(differing(one.x.dataSync(), three.x.dataSync())).toBe(0);
      tf.dispose([one, two, three, x0]);
    },
    600_000,
  );
});

describe.runIf(onHelperBackend)("sampling on several threads", () => {
  it(
    "gives bit for bit the samples and trajectory of one thread, for every fixed-step solver, " +
      "and leaks nothing",
    () => {
      seed(3);
      const model = createVelocityModel({ width: 32, depth: 2 });
      const n = 3 * MIN_ROWS_PER_THREAD + 7; // uneven parts
      const x0 = randn([n, 2]) as tf.Tensor2D;
      setThreads(2);
      const helperBefore = helperTensors();
      const before = tf.memory().numTensors;
      for (const method of ["euler", "midpoint", "heun", "rk4"] as const) {
        setThreads(1);
        const one = sampleFlow(model, { x0, method, steps: 9, saveAt: [0, 0.3, 1] });
        setThreads(2);
        const two = sampleFlow(model, { x0, method, steps: 9, saveAt: [0, 0.3, 1] });
        expect(runningHelpers()).toBeGreaterThanOrEqual(1);
        expect(differing(one.x.dataSync(), two.x.dataSync())).toBe(0);
        expect(two.trajectory!.shape).toEqual(one.trajectory!.shape);
        expect(differing(one.trajectory!.dataSync(), two.trajectory!.dataSync())).toBe(0);
        expect(two.nfe).toBe(one.nfe);
        expect(two.mesh).toEqual(one.mesh);
        tf.dispose([one, two]);
      }
      model.dispose(); // its layer tensors are a cache it owns
      expect(tf.memory().numTensors).toBe(before);
      expect(helperTensors()).toBe(helperBefore);
      x0.dispose();
    },
  );

  it(
    "negative control: the comparison sees a change of one parameter by one part in a " + "million",
    () => {
      seed(4);
      const model = createVelocityModel({ width: 32, depth: 2 });
      const nudged = model.clone();
      const theta = Float32Array.from(nudged.theta);
      theta[40] *= 1 + 1e-6;
      nudged.setTheta(theta);
      const x0 = randn([2 * MIN_ROWS_PER_THREAD, 2]) as tf.Tensor2D;
      setThreads(2);
      const a = sampleFlow(model, { x0, steps: 5 });
      const b = sampleFlow(nudged, { x0, steps: 5 });
      expect(differing(a.x.dataSync(), b.x.dataSync())).toBeGreaterThan(0);
      tf.dispose([a, b, x0]);
    },
  );

  it(
    "stays on one thread where splitting would change the result or not pay (dopri5, few " +
      "rows)",
    () => {
      const model = createVelocityModel({ width: 8, depth: 1 });
      const x0 = randn([4 * MIN_ROWS_PER_THREAD, 2]) as tf.Tensor2D;
      const small = randn([MIN_ROWS_PER_THREAD, 2]) as tf.Tensor2D;
      setThreads(2);
      expect(parallelSolve(model, x0, { method: "dopri5", t0: 0, t1: 1 })).toBeNull();
      expect(parallelSolve(model, small, { method: "euler", steps: 3, t0: 0, t1: 1 })).toBeNull();
      tf.dispose([x0, small]);
    },
  );

  it(
    "a bad solver option fails with the solver's message on every thread, and the next call " +
      "works",
    () => {
      const model = createVelocityModel({ width: 8, depth: 1 });
      const x0 = randn([2 * MIN_ROWS_PER_THREAD, 2]) as tf.Tensor2D;
      setThreads(2);
      const before = tf.memory().numTensors;
      expect(() => sampleFlow(model, { x0, steps: 0 })).toThrow(/steps/);
      expect(tf.memory().numTensors).toBe(before);
      const ok = sampleFlow(model, { x0, steps: 2 });
      expect(ok.x.shape).toEqual([2 * MIN_ROWS_PER_THREAD, 2]);
      tf.dispose([ok, x0]);
    },
  );
});

describe.runIf(onHelperBackend)("the training gradient in parts", () => {
  function batch(n: number, model: VelocityModel) {
    const inputs = model.layers[0].inputs;
    const input = Float32Array.from((randn([n, inputs]) as tf.Tensor2D).dataSync());
    const target = Float32Array.from((randn([n, 2]) as tf.Tensor2D).dataSync());
    return { input, target, inputs };
  }

  it(
    "adds the parts' sums up to the whole batch's (float rounding only), the same on one or two " +
      "threads",
    () => {
      seed(5);
      const model = createVelocityModel({ width: 32, depth: 2 });
      const n = 301;
      const { input, target, inputs } = batch(n, model);
      const x = tf.tensor2d(input, [n, inputs]);
      const y = tf.tensor2d(target, [n, 2]);
      const whole = gradientSums(model, x, y);
      tf.dispose([x, y]);
      setThreads(1);
      const serial = shardedGradientSums(model, input, target, n, 3);
      setThreads(2);
      const helperBefore = helperTensors();
      const before = tf.memory().numTensors;
      const parallel = shardedGradientSums(model, input, target, n, 3);
      expect(tf.memory().numTensors).toBe(before);
      expect(helperTensors()).toBe(helperBefore);
      // Exactly the same numbers whichever thread computed which part.
      expect(differing(serial.grad, parallel.grad)).toBe(0);
      expect(parallel.sumSq).toBe(serial.sumSq);
      // The same gradient as the whole batch at once, up to float32 rounding of the partial sums.
      let err = 0;
      let norm = 0;
      for (let i = 0; i < whole.grad.length; i++) {
        err = Math.max(err, Math.abs(whole.grad[i] - parallel.grad[i]));
        norm = Math.max(norm, Math.abs(whole.grad[i]));
      }
      expect(err / norm).toBeLessThan(1e-5);
      expect(Math.abs(parallel.sumSq - whole.sumSq) / whole.sumSq).toBeLessThan(1e-6);
      // Negative control: leaving one part out is far outside that tolerance.
      const partial = shardedGradientSums(
        model,
        input.subarray(0, 200 * inputs),
        target.subarray(0, 400),
        200,
        2,
      );
      let miss = 0;
      for (let i = 0; i < whole.grad.length; i++)
        miss = Math.max(miss, Math.abs(whole.grad[i] - partial.grad[i]));
      expect(miss / norm).toBeGreaterThan(1e-2);
    },
  );

  it("a reply left behind by an interrupted call is never taken for the next call's", () => {
    seed(10);
    const model = createVelocityModel({ width: 16, depth: 1 });
    const n = 64;
    const { input, target } = batch(n, model);
    setThreads(1);
    const serial = shardedGradientSums(model, input, target, n, 2);
    setThreads(2);
    const [h] = helpers(1, HELPER_JOBS);
    // sent, never received: as if the caller had been interrupted in between
    send(h, "numTensors", null);
    const parallel = shardedGradientSums(model, input, target, n, 2);
    expect(differing(serial.grad, parallel.grad)).toBe(0);
    expect(parallel.sumSq).toBe(serial.sumSq);
  });

  it(
    "trains to the same parameters and losses on one or two threads; the number of parts, not " +
      "of threads, sets the numbers",
    async () => {
      const data = twoMoons(600);
      const run = async (threads: number, shards: number) => {
        setThreads(threads);
        seed(9);
        const m = createVelocityModel({ width: 32, depth: 2 });
        const r = await trainFlowMatching(m, {
          data,
          steps: 60,
          batchSize: 128,
          progress: false,
          shards,
        });
        return { theta: m.theta, losses: r.losses };
      };
      const before = tf.memory().numTensors;
      const one = await run(1, 2);
      const two = await run(2, 2);
      expect(runningHelpers()).toBe(1);
      expect(tf.memory().numTensors).toBe(before);
      expect(differing(one.theta, two.theta)).toBe(0);
      expect(two.losses).toEqual(one.losses);
      // Negative control: another number of parts rounds differently, and the check above would see
      // it.
      const single = await run(2, 1);
      expect(differing(single.theta, two.theta)).toBeGreaterThan(0);
      await expect(
        trainFlowMatching(createVelocityModel(), { data, steps: 1, shards: 0, progress: false }),
      ).rejects.toThrow(/shards/);
      data.dispose();
    },
  );
});
