// Interrupting the library's loops (src/core/interrupt.ts), without a kernel: `requestInterrupt`
// does what Kernel > Interrupt does, at a step the test chooses (tests/interrupt-kernel.test.ts
// sends real interrupts through the course kernel). An interrupted loop stops between two steps,
// leaves the model exactly as a run of that many steps would, frees its tensors, and leaves the
// helpers usable.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { availableParallelism } from "os";
import {
  InterruptedError,
  interruptCounters,
  interruptPending,
  interruptible,
  interruptibleAsync,
  requestInterrupt,
} from "../src/core/interrupt";
import { seed, randn } from "../src/core/random";
import { setThreads, stopThreads } from "../src/core/threads";
import { createVelocityModel } from "../src/model/mlp";
import { MIN_ROWS_PER_THREAD, startThreads } from "../src/model/parallel";
import { sampleFlow } from "../src/model/sample";
import { trainFlowMatching } from "../src/model/train";
import { solveOde } from "../src/solvers/ode";
import { twoMoons } from "../src/data/toy2d";
import { progress } from "../src/notebook/progress";
import type { VelocityField } from "../src/core/notation";
import { interrupter } from "./helpers";

const THREADS = Math.min(2, availableParallelism());

beforeAll(async () => {
  setThreads(THREADS);
  await startThreads();
});
afterAll(() => {
  setThreads();
  stopThreads();
});

function differing(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let k = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) k++;
  return k;
}

describe("interrupting training", () => {
  const data = twoMoons(400);
  afterAll(() => data.dispose());

  /** Trains a fresh seeded model for `steps` steps (or until interrupted after `stopAfter`). */
  async function train(steps: number, stopAfter?: number, threads = THREADS) {
    setThreads(threads);
    seed(31);
    const model = createVelocityModel({ width: 16, depth: 2 });
    const before = tf.memory().numTensors;
    let error: unknown = null;
    try {
      await trainFlowMatching(model, {
        data,
        steps,
        batchSize: 64,
        progress: false,
        onStep: (step) => {
          if (step === stopAfter) requestInterrupt();
        },
      });
    } catch (err) {
      error = err;
    }
    const leaked = tf.memory().numTensors - before;
    const theta = Float32Array.from(model.theta);
    model.dispose();
    return { theta, error, leaked };
  }

  for (const threads of [1, THREADS]) {
    it(
      `stops after the step it was interrupted in, with the parameters of a run of that many ` +
        `steps, bit for bit (${threads} thread(s))`,
      async () => {
        const interrupted = await train(5000, 25, threads);
        expect(interrupted.error).toBeInstanceOf(InterruptedError);
        const err = interrupted.error as InterruptedError<{ losses: number[]; steps: number }>;
        expect(err.message).toBe(
          "Interrupted: training stopped after step 25 of 5000; the model keeps the parameters " +
            "of " +
            'step 25 (the error\'s "partial" holds the losses of those steps)',
        );
        expect(err.partial?.steps).toBe(25);
        expect(err.partial?.losses).toHaveLength(25);
        expect(interrupted.leaked).toBe(0);
        const reference = await train(25, undefined, threads);
        expect(reference.error).toBeNull();
        expect(differing(interrupted.theta, reference.theta)).toBe(0);
        // Negative control: one step more is a different model, and the comparison sees it.
        const further = await train(26, undefined, threads);
        expect(differing(further.theta, reference.theta)).toBeGreaterThan(0);
      },
    );
  }

  it(
    "an interrupt between two operations is not carried into the next one (outside a " + "kernel)",
    async () => {
      requestInterrupt(); // nothing is running
      expect(interruptPending()).toBe(false);
      const run = await train(3);
      expect(run.error).toBeNull();
    },
  );
});

describe("interrupting a solver", () => {
  /** A field that requests an interrupt on its `at`-th evaluation. */
  function interruptingField(at: number): { field: VelocityField; calls: () => number } {
    let calls = 0;
    const field: VelocityField = (x) => {
      calls++;
      if (calls === at) requestInterrupt();
      return tf.neg(x) as tf.Tensor2D;
    };
    return { field, calls: () => calls };
  }

  for (const method of ["euler", "rk4", "dopri5"] as const) {
    it(
      `${method}: stops at the next step with an InterruptedError, frees every tensor, and the ` +
        `next solve runs to the end`,
      () => {
        const x0 = randn([50, 2]) as tf.Tensor2D;
        const before = tf.memory().numTensors;
        const { field, calls } = interruptingField(7);
        const options =
          method === "dopri5"
            ? { method, rtol: 1e-7, atol: 1e-7, t1: 200, maxSteps: 1e6 }
            : { method, steps: 100_000, saveAt: [0, 1] };
        expect(() => solveOde(field, x0, options)).toThrow(InterruptedError);
        expect(() => solveOde(interruptingField(7).field, x0, options)).toThrow(
          /^Interrupted: the solver (\(dopri5\) )?stopped at t = /,
        );
        // Stopped within the step it was interrupted in (at most one step's evaluations later).
        expect(calls()).toBeLessThanOrEqual(7 + 7);
        expect(tf.memory().numTensors).toBe(before);
        const done = solveOde(
          (x) => tf.neg(x) as tf.Tensor2D,
          x0,
          method === "dopri5" ? { method } : { method, steps: 10 },
        );
        expect(done.x.shape).toEqual([50, 2]);
        tf.dispose([done.x, x0]);
      },
    );
  }

  it("negative control: without an interrupt the same solve runs all its steps", () => {
    const x0 = randn([5, 2]) as tf.Tensor2D;
    const { field, calls } = interruptingField(-1);
    const sol = solveOde(field, x0, { method: "euler", steps: 300 });
    expect(calls()).toBe(300);
    tf.dispose([sol.x, x0]);
  });

  it("interruptible: operations nest, and only an interrupt during them counts", () => {
    expect(interruptible(() => interruptible(() => interruptPending()))).toBe(false);
    expect(
      interruptible(() => {
        requestInterrupt();
        return interruptible(() => interruptPending());
      }),
    ).toBe(true);
    expect(interruptPending()).toBe(false);
  });
});

describe("a loop that reports to fm.progress", () => {
  /** Runs `body` with console.log captured (outside a kernel the bar prints its text lines). */
  async function printed(body: () => Promise<void>): Promise<string[]> {
    const lines: string[] = [];
    const log = vi.spyOn(console, "log").mockImplementation((line: string) => lines.push(line));
    try {
      await body();
    } finally {
      log.mockRestore();
    }
    return lines;
  }

  it(
    "stops at the update after an interrupt, and stop() shows where, instead of " + "'done'",
    async () => {
      const lines = await printed(async () => {
        const bar = progress({ total: 1000, title: "mine" });
        let reached = 0;
        const outcome = await interruptibleAsync(async () => {
          try {
            for (let step = 1; step <= 1000; step++) {
              reached = step;
              if (step === 7) requestInterrupt();
              await bar.update(step);
            }
            return "ran to the end";
          } catch (err) {
            return String(err);
          }
        });
        expect(outcome).toBe("InterruptedError: Interrupted: mine stopped at step 7 of 1000");
        expect(reached).toBe(7);
        const summary = await bar.stop("interrupted after step 7");
        expect(summary).toMatchObject({
          step: 7,
          total: 1000,
          stopped: "interrupted after step 7",
        });
      });
      expect(lines[lines.length - 1]).toMatch(
        /^mine \[\.{30}\] 7\/1000 \(0\.7%\).* · interrupted after step 7$/,
      );
    },
  );

  it(
    "negative control: without an interrupt the same loop runs to the end with " + "'done'",
    async () => {
      const lines = await printed(async () => {
        const bar = progress({ total: 50, title: "mine" });
        await interruptibleAsync(async () => {
          for (let step = 1; step <= 50; step++) await bar.update(step);
        });
        expect((await bar.done()).stopped).toBeUndefined();
      });
      expect(lines[lines.length - 1]).toMatch(/ · done$/);
    },
  );
});

describe.runIf(THREADS >= 2)("interrupting sampling on several threads", () => {
  it(
    "stops every thread's share, leaks nothing, and the helpers give exact samples right " +
      "after",
    async () => {
      seed(41);
      const model = createVelocityModel({ width: 32, depth: 2 });
      const x0 = randn([3 * MIN_ROWS_PER_THREAD, 2]) as tf.Tensor2D;
      setThreads(2);
      // The model builds its layer tensors on first use (kept until model.dispose()): not a leak.
      tf.dispose(sampleFlow(model, { x0, steps: 1 }));
      const before = tf.memory().numTensors;
      // Interrupts keep coming every 300 ms (so one lands while the sampling runs, however slow the
      // machine).
      const interrupts = interrupter(interruptCounters(), 300);
      try {
        expect(() => sampleFlow(model, { x0, method: "rk4", steps: 20_000 })).toThrow(
          /^Interrupted: the solver stopped at t = /,
        );
      } finally {
        await interrupts.stop();
      }
      expect(tf.memory().numTensors).toBe(before);
      const two = sampleFlow(model, { x0, method: "rk4", steps: 20 });
      setThreads(1);
      const one = sampleFlow(model, { x0, method: "rk4", steps: 20 });
      setThreads(2);
      expect(differing(one.x.dataSync(), two.x.dataSync())).toBe(0);
      tf.dispose([one, two, x0]);
      model.dispose();
    },
    600_000,
  );
});
