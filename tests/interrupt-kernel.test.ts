// Kernel > Interrupt through the real course kernel (scripts/kernel.js, tslab, the wasm backend,
// two threads): Jupyter's own interrupt (SIGINT to the kernel's process group, as a front end or
// the grader's cell time limit sends it) arrives while a cell trains or samples, synchronously or
// between awaits. Each loop must stop at its next step, the model must be exactly that of a run of
// the steps it completed, nothing may leak, nothing may go on in the background, and the kernel and
// its helper threads must work afterwards. Cells of the student's own (a busy loop, a sleep) are
// still stopped. Without the launcher's interrupt thread (plain tslab's handling) the training
// cells fail these checks: the synchronous one is cut wherever it is, the awaiting one trains on in
// the background.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";

const ROOT = join(__dirname, "..");
const PYTHON = process.env.FM_PYTHON || "/usr/bin/python3";

interface Step {
  code: string;
  pause?: number;
  /** Seconds after sending the cell to interrupt the kernel. */
  interrupt?: number;
  /** Interrupt once the cell has printed this. */
  interrupt_when?: string;
  /** Seconds the cell may take (the hang guard of the session). */
  timeout?: number;
}
interface CellResult {
  status: "ok" | "error";
  stdout: string;
  stderr: string;
  interrupted_after?: number;
  stopped_after?: number;
}

let dir = "";
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fm-interrupt-"));
  const { writeKernelSpec, kernelSpec } = await import(
    pathToFileURL(join(ROOT, "scripts", "install-kernel.mjs")).href
  );
  writeKernelSpec(join(dir, "jupyter", "kernels"), kernelSpec());
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs the steps in one session of the course kernel (tests/fixtures/kernel_session.py), pausing
 * 0.5 s after each (tslab drops a request that arrives within 200 ms of a failed cell).
 */
function session(steps: Step[]): CellResult[] {
  const stepsPath = join(dir, "steps.json");
  writeFileSync(stepsPath, JSON.stringify(steps.map((step) => ({ pause: 0.5, ...step }))));
  const r = spawnSync(
    PYTHON,
    [join(ROOT, "tests", "fixtures", "kernel_session.py"), "flow-matching", ROOT, stepsPath],
    {
      encoding: "utf8",
      env: { ...process.env, JUPYTER_PATH: join(dir, "jupyter") },
      timeout: 840_000,
    },
  );
  if (r.status !== 0) throw new Error(`kernel session failed (exit ${r.status}):\n${r.stderr}`);
  const report = JSON.parse(r.stdout.trim().split("\n").pop() as string) as {
    cells: CellResult[];
    problem: string | null;
    log: string;
  };
  if (report.problem) {
    throw new Error(`kernel session stopped early: ${report.problem}\n${report.log.slice(-3000)}`);
  }
  return report.cells;
}

/** The JSON object a cell printed on its last line. */
const lastJson = (cell: CellResult) => JSON.parse(cell.stdout.trim().split("\n").pop() as string);

const SETUP = `
import * as fm from "./src/index";
await fm.initBackend();
fm.setThreads(2);
await fm.startThreads();
const data = fm.twoMoons(400);
const recipe = { width: 16, depth: 2 };
const options = (steps: number, progress: boolean, say?: string) =>
  ({
    data: data, steps: steps, batchSize: 64, progress: progress,
    onStep: (s: number) => { if (s === 20 && say) console.log(say); },
  });
/** A model trained from seed 5 for exactly \`steps\` steps, without interruption. */
async function fresh(steps: number) {
  fm.seed(5);
  const m = fm.createVelocityModel(recipe);
  await fm.trainFlowMatching(m, options(steps, false));
  return m;
}
const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && a.every((v, i) => v === b[i]);
async function check(model: fm.VelocityModel, err: any, leaked: number) {
  const steps = err.partial.steps;
  const exact = same(model.theta, (await fresh(steps)).theta);
  // Negative control: one step more must differ.
  const control = same(model.theta, (await fresh(steps + 1)).theta);
  const interrupted = err instanceof fm.InterruptedError;
  console.log(JSON.stringify({ interrupted, steps, exact, control, leaked }));
}
const kept: any = {};
console.log("ready", fm.threadCount());
`;

// A cell that fails keeps none of its declarations (tslab), so the cells keep what the next ones
// check in \`kept\` (declared by the setup): without the fix, the checks can then show what went
// wrong.
const TRAIN = (name: string, progress: boolean) => `
fm.seed(5);
kept.${name} = fm.createVelocityModel(recipe);
const before${name} = fm.tf.memory().numTensors;
kept.${name}Error = null;
try {
  await fm.trainFlowMatching(kept.${name}, options(1_000_000, ${progress}, "running"));
} catch (e) {
  kept.${name}Error = e;
}
kept.${name}Leaked = fm.tf.memory().numTensors - before${name};
console.log(String(kept.${name}Error));
`;

describe("Kernel > Interrupt in the course kernel", () => {
  it("stops training and sampling between steps, exactly, leak-free; the kernel works on", () => {
    const cells = session([
      { code: SETUP, timeout: 400 },
      // 1. Training without a progress bar: one synchronous call that never yields.
      { code: TRAIN("A", false), interrupt_when: "running", timeout: 300 },
      { code: "await check(kept.A, kept.AError, kept.ALeaked);", timeout: 300 },
      // 2. Training with the live progress bar: it awaits between steps (tslab alone abandoned the
      //    cell and let the loop run on in the background).
      { code: TRAIN("B", true), interrupt_when: "running", timeout: 300 },
      {
        code: `const thetaB = Float32Array.from(kept.B.theta);
await new Promise((resolve) => setTimeout(resolve, 1500));
console.log(JSON.stringify({ unchangedSinceCellEnded: same(thetaB, kept.B.theta) }));
await check(kept.B, kept.BError, kept.BLeaked);`,
        timeout: 300,
      },
      // 3. Sampling on two threads, synchronous.
      {
        code: `fm.seed(6);
kept.x0 = fm.randn([1500, 2]) as fm.tf.Tensor2D;
const beforeS = fm.tf.memory().numTensors;
let errorS: any = null;
console.log("sampling");
try {
  fm.sampleFlow(kept.B, { x0: kept.x0, method: "rk4", steps: 100_000 });
} catch (e) {
  errorS = e;
}
console.log(String(errorS));
const leakedS = fm.tf.memory().numTensors - beforeS;
console.log(JSON.stringify({ interrupted: errorS instanceof fm.InterruptedError, \
leaked: leakedS }));`,
        interrupt_when: "sampling",
        timeout: 300,
      },
      {
        code: `const two = fm.sampleFlow(kept.B, { x0: kept.x0, method: "rk4", steps: 10 });
fm.setThreads(1);
const one = fm.sampleFlow(kept.B, { x0: kept.x0, method: "rk4", steps: 10 });
fm.setThreads(2);
const exact = same(one.x.dataSync() as Float32Array, two.x.dataSync() as Float32Array);
console.log(JSON.stringify({ helpers: fm.runningHelpers(), exact }));
fm.tf.dispose([one, two]);`,
        timeout: 120,
      },
      // 4. A loop of the student's own that reports progress.
      {
        code: `const bar = fm.progress({ total: 1_000_000, title: "mine" });
let reached = 0;
try {
  for (let i = 1; i <= 1_000_000; i++) {
    const until = Date.now() + 1;
    while (Date.now() < until);
    reached = i;
    if (i === 20) console.log("running");
    await bar.update(i);
  }
} catch (e) {
  await bar.stop("interrupted");
  console.log(String(e));
}`,
        interrupt_when: "running",
        timeout: 300,
      },
      // 5. Code of the student's own that never checks: stopped as plain tslab stops it.
      { code: "while (true) {}", interrupt: 3, timeout: 300 },
      {
        code: "await new Promise((resolve) => setTimeout(resolve, 600_000));",
        interrupt: 3,
        timeout: 300,
      },
      { code: 'console.log("alive", fm.tf.memory().numTensors >= 0)', timeout: 120 },
    ]);
    const [setup, trainA, checkA, trainB, checkB, sample, after, ownLoop, spin, sleep, alive] =
      cells;
    const report = JSON.stringify(cells, null, 1);
    // For the record (not asserted: wall times on a shared machine are no test): interrupt to cell
    // end.
    const timings = { trainA, trainB, sample, ownLoop, spin, sleep };
    console.log(
      Object.entries(timings)
        .map(([k, c]) => `${k} ${c.stopped_after} s`)
        .join(", "),
    );

    expect(setup, report).toMatchObject({ status: "ok", stderr: "" });
    expect(setup.stdout).toContain("ready 2");

    for (const [train, check] of [
      [trainA, checkA],
      [trainB, checkB],
    ]) {
      expect(train, report).toMatchObject({ status: "ok", stderr: "" });
      expect(train.stdout).toMatch(
        new RegExp(
          String.raw`InterruptedError: Interrupted: training stopped after step` +
            String.raw` \d+ of 1000000; the model keeps the parameters of step \d+`,
        ),
      );
      expect(check.status, report).toBe("ok");
      expect(lastJson(check)).toEqual({
        interrupted: true,
        steps: expect.any(Number),
        exact: true,
        control: false,
        leaked: 0,
      });
      expect(lastJson(check).steps).toBeGreaterThanOrEqual(20);
    }
    expect(JSON.parse(checkB.stdout.trim().split("\n")[0])).toEqual({
      unchangedSinceCellEnded: true,
    });

    expect(sample, report).toMatchObject({ status: "ok", stderr: "" });
    expect(sample.stdout).toMatch(/InterruptedError: Interrupted: the solver stopped at t = /);
    expect(lastJson(sample)).toEqual({ interrupted: true, leaked: 0 });
    expect(lastJson(after)).toEqual({ helpers: 1, exact: true });

    expect(ownLoop, report).toMatchObject({ status: "ok", stderr: "" });
    expect(ownLoop.stdout).toMatch(
      /InterruptedError: Interrupted: mine stopped at step \d+ of 1000000/,
    );

    expect(spin.status, report).toBe("error");
    expect(spin.stderr).toContain("Script execution was interrupted by `SIGINT`");
    expect(sleep.status, report).toBe("error");
    expect(sleep.stderr).toContain("Interrupted asynchronously");
    expect(alive, report).toMatchObject({ status: "ok", stdout: "alive true\n", stderr: "" });
  }, 900_000);
});

// The grader's cell time limit (scripts/grading/session.py: its Kernel runs a student's cell and,
// past the limit, stops it with Kernel.stop_overrun) interrupts the kernel the same way (Jupyter's
// interrupt_kernel): a training cell over the limit must stop there too, not train on in the
// background while the later cells run.
describe("the grader's cell time limit", () => {
  // The setup cell compiles the library: its limit is a hang guard (113 s under a load of ~35 on
  // two cores). The training cell's limit is the one that must stop it.
  const SETUP_LIMIT = 600;
  const TRAINING_LIMIT = 20;
  const cells = [
    {
      limit: SETUP_LIMIT,
      code: `import * as fm from "./src/index";
await fm.initBackend();
fm.setThreads(1);
const data = fm.twoMoons(400);
const same = (a: Float32Array, b: Float32Array) =>
  a.length === b.length && a.every((v, i) => v === b[i]);
const kept: any = { steps: 0 };`,
    },
    // Trains until the limit stops it, keeping the parameters of its last two completed steps.
    {
      limit: TRAINING_LIMIT,
      code: `fm.seed(5);
kept.model = fm.createVelocityModel({ width: 16, depth: 2 });
const onStep = (s: number) => {
  kept.previous = kept.last;
  kept.last = Float32Array.from(kept.model.theta);
  kept.steps = s;
};
const optionsG = { data: data, steps: 1_000_000, batchSize: 64, progress: true, onStep: onStep };
await fm.trainFlowMatching(kept.model, optionsG);`,
    },
    {
      limit: SETUP_LIMIT,
      code: `const now = Float32Array.from(kept.model.theta);
const steps = kept.steps;
await new Promise((resolve) => setTimeout(resolve, 1500));
const unchanged = same(now, kept.model.theta) && kept.steps === steps;
const exact = same(now, kept.last);
// Negative control: the step before differs.
const control = same(now, kept.previous);
console.log(JSON.stringify({ unchanged, exact, control, steps }));`,
    },
  ];

  it("stops a training cell at a step; later cells see that step's model, unchanging", () => {
    const cellsPath = join(dir, "grader-limit.json");
    writeFileSync(cellsPath, JSON.stringify(cells));
    const driver = join(ROOT, "tests", "fixtures", "grader_cell_limit.py");
    const r = spawnSync(PYTHON, [driver, "flow-matching", ROOT, cellsPath], {
      encoding: "utf8",
      env: { ...process.env, JUPYTER_PATH: join(dir, "jupyter") },
      timeout: 1_500_000,
    });
    if (r.status !== 0) throw new Error(`the driver failed (exit ${r.status}):\n${r.stderr}`);
    const outcomes = JSON.parse(r.stdout.trim().split("\n").pop() as string) as {
      status: string;
      out: string;
      usable?: boolean;
    }[];
    const report = JSON.stringify(outcomes, null, 1);
    expect(
      outcomes.map((o) => o.status),
      report,
    ).toEqual(["ok", "timeout", "ok"]);
    expect(outcomes[1].usable, report).toBe(true);
    const last = outcomes[2].out.trim().split("\n").pop() as string;
    expect(JSON.parse(last), report).toEqual({
      unchanged: true,
      exact: true,
      control: false,
      steps: expect.any(Number),
    });
    expect(JSON.parse(last).steps).toBeGreaterThan(1);
  }, 1_600_000);
});
