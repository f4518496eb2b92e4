// The course kernel (scripts/kernel.js) against tslab's real behaviour, in real Jupyter sessions
// (tests/fixtures/kernel_session.py): cells one by one with a student's pauses, or in bursts as
// Run All sends them, with the TensorFlow.js wasm backend loaded as the notebooks load it. Plain
// tslab is the negative control: the same cells lose output, kill it or fail there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync, rmSync } from "fs";
import { join } from "path";
import { pathToFileURL } from "url";
import {
  ROOT,
  cpuBurners,
  kernelFolder,
  numberedLines,
  plainTslabSpec,
  printLines,
  session,
  shutdownSession,
  type SessionResult,
  type Step,
} from "./kernel-session";

let kernels: ReturnType<typeof kernelFolder>;
beforeAll(async () => {
  kernels = kernelFolder();
  // Registered as `npm install` registers it (the launcher kept in the Jupyter folder).
  const install = await import(pathToFileURL(join(ROOT, "scripts", "install-kernel.mjs")).href);
  install.installKernel({ quiet: true, dataDir: kernels.dir });
  kernels.addSpec("tslab-plain", plainTslabSpec());
});
afterAll(() => kernels?.dispose());

const course = (steps: Step[], startDir = ROOT) =>
  session(kernels.dir, "flow-matching", steps, startDir);
const plain = (steps: Step[]) => session(kernels.dir, "tslab-plain", steps);
const sleep = (ms: number) => `await new Promise((resolve) => setTimeout(resolve, ${ms}));`;
/**
 * What a notebook's first cell does (the wasm backend named explicitly, so that it is the one
 * loaded).
 */
const SETUP = 'import * as fm from "./src/index"; await fm.initBackend({ backend: "wasm" });';
/** A cell that leaves a timer running for ever. */
const LEFT_RUNNING = "setInterval(() => {}, 1000);";
/** The wasm backend without the library (fast: no TypeScript to compile), for plain tslab. */
const WASM_ONLY =
  'import * as tf from "@tensorflow/tfjs"; import "@tensorflow/tfjs-backend-wasm"; ' +
  'await tf.setBackend("wasm"); console.log(tf.getBackend());';
/** A field that returns NaN: solveOde fails, sampleFlow re-throws (sample.ts's `throw err`). */
const NAN_SAMPLING =
  "fm.sampleFlow((x: fm.tf.Tensor2D) => x.mul(NaN) as fm.tf.Tensor2D, " +
  "{ x0: fm.randn([2, 2]) as fm.tf.Tensor2D, steps: 4 })";
const TIMER_THROWS =
  'setTimeout(() => { throw new Error("boom from a timer"); }, 10); ' +
  "await new Promise((r) => setTimeout(r, 50));";

/** The 1-based line of `src/<file>` holding `text`. */
function lineOf(file: string, text: string): number {
  const i = readFileSync(join(ROOT, "src", file), "utf8")
    .split("\n")
    .findIndex((l) => l.includes(text));
  if (i < 0) throw new Error(`${text} not found in src/${file}`);
  return i + 1;
}

describe("the course kernel", () => {
  it("starts in the course root, also when Jupyter starts it in notebooks/", () => {
    const { cells } = course([{ code: "console.log(process.cwd())" }], join(ROOT, "notebooks"));
    expect(cells[0]).toMatchObject({ status: "ok", stdout: `${ROOT}\n`, stderr: "" });
  });

  it("sends printed lines in few messages, in order around displays and later output", () => {
    const { cells } = course([
      { code: printLines("line", 3000) },
      {
        code:
          'import * as tslab from "tslab"; console.log("before"); console.error("warned"); ' +
          'console.log("between"); tslab.display.html("<b>shown</b>"); console.log("after");',
      },
      // Output of code still running after its cell ends goes to that cell, before the next one.
      { code: 'setTimeout(() => console.log("late"), 100); console.log("now");', pause: 0.5 },
      { code: 'console.log("next")' },
    ]);
    expect(cells[0]).toMatchObject({ status: "ok", stdout: numberedLines("line", 3000) });
    // One message per line would be 3000 (plain tslab: see its test); IPython-like batching
    // leaves a handful, far below classic Notebook's rate limit of 1000 a second.
    expect(cells[0].messages.length).toBeGreaterThan(0);
    expect(cells[0].messages.length).toBeLessThanOrEqual(30);
    expect(cells[1]).toMatchObject({
      status: "ok",
      stdout: "before\nbetween\nafter\n",
      stderr: "warned\n",
      messages: [
        "stream:stdout",
        "stream:stderr",
        "stream:stdout",
        "display_data",
        "stream:stdout",
      ],
    });
    expect(cells[2]).toMatchObject({ status: "ok", stdout: "now\nlate\n" });
    expect(cells[2].messages).toEqual(["stream:stdout", "stream:stdout"]);
    expect(cells[3]).toMatchObject({ status: "ok", stdout: "next\n", messages: ["stream:stdout"] });
  });

  it("ends its process by itself when asked to shut down, also with a timer left running", () => {
    // The library loaded (its helper threads, the wasm backend), a model trained.
    const trained =
      `${SETUP} fm.seed(0); const m = fm.createVelocityModel(); await fm.trainFlowMatching(m, ` +
      '{ data: fm.toyDataset("twoMoons", 200), steps: 5, progress: false });';
    for (const code of [trained, `${LEFT_RUNNING} console.log("left running")`]) {
      const r = shutdownSession(kernels.dir, "flow-matching", code, 10);
      expect(r).toMatchObject({ ran: "ok", exited: true, code: 0 });
    }
  });

  it("fails cells for thrown errors, rejections and callback exceptions, and keeps working", () => {
    const { cells } = course([
      { code: 'console.log("fine")' },
      // tslab aborts requests arriving within 200 ms of a failed cell (its stop-on-error): pause.
      { code: 'throw new Error("thrown in the cell")', pause: 0.3 },
      {
        code: 'Promise.reject(new Error("nobody awaits me")); console.log("cell body done")',
        pause: 0.3,
      },
      {
        code: 'setTimeout(() => { throw new Error("from a timer"); }, 0); console.log("scheduled")',
        pause: 0.3,
      },
      {
        code:
          'const p = Promise.reject(new Error("handled a moment later")); ' +
          `${sleep(20)} p.catch(() => {}); console.log("handled")`,
      },
      { code: 'const n: number = "one";', pause: 0.3 },
      { code: 'console.log("still alive")' },
    ]);
    const [fine, thrown, rejected, timer, handled, typed, alive] = cells;
    expect(fine).toMatchObject({ status: "ok", stdout: "fine\n", stderr: "" });

    expect(thrown.status).toBe("error");
    // The message first, no code excerpt.
    expect(thrown.stderr).toMatch(/^Error: thrown in the cell\n/);
    // Stack frames inside tslab, the launcher and Node are dropped; the cell's own frame stays.
    expect(thrown.stderr).not.toMatch(/node_modules[\\/]tslab|kernel\.js|node:internal/);
    expect(thrown.stderr).toContain("evalmachine");

    expect(rejected).toMatchObject({ status: "error", stdout: "cell body done\n" });
    expect(rejected.stderr).toMatch(
      /^Unhandled promise rejection while this cell ran: Error: nobody awaits me/,
    );

    expect(timer).toMatchObject({ status: "error", stdout: "scheduled\n" });
    expect(timer.stderr).toMatch(/^Uncaught exception while this cell ran: Error: from a timer/);

    expect(handled).toMatchObject({ status: "ok", stdout: "handled\n", stderr: "" });

    expect(typed.status).toBe("error");
    expect(typed.stderr).toContain("Type 'string' is not assignable to type 'number'");

    expect(alive).toMatchObject({ status: "ok", stdout: "still alive\n", stderr: "" });
  });

  it("fails the next cell, without running it, for a rejection from code still running", () => {
    const { cells } = course([
      {
        code:
          'setTimeout(() => { Promise.reject(new Error("late failure")); }, 100); ' +
          'console.log("started")',
        pause: 0.6,
      },
      { code: "(globalThis as any).ranNext = true;", pause: 0.3 },
      { code: "console.log((globalThis as any).ranNext)" },
      { code: "(globalThis as any).ranNext = true; console.log((globalThis as any).ranNext)" },
    ]);
    const [starter, next, again, later] = cells;
    expect(starter).toMatchObject({ status: "ok", stdout: "started\n" });
    // Printed when it happened, under the cell that had run last (front ends show late output).
    expect(starter.stderr).toContain("Unhandled promise rejection after cell [1] had finished");
    expect(starter.stderr).toContain("late failure");

    expect(next.status).toBe("error");
    expect(next.count).toBe(2);
    expect(next.stderr).toContain(
      "Unhandled promise rejection after cell [1] had finished " +
        "(from code still running in the background): Error: late failure",
    );
    expect(next.stderr).toContain("This cell was not run");
    // The failed cell did not run.
    expect(again).toMatchObject({ status: "ok", stdout: "undefined\n", stderr: "" });
    expect(later).toMatchObject({ status: "ok", stdout: "true\n", stderr: "" });
  });

  it("keeps a failed cell's names, says which it never reached, takes `{ data }`", () => {
    const { cells } = course([
      {
        code: 'const p1 = 1; const p2 = { a: p1 }; throw new Error("stops here"); const p3 = 3;',
        pause: 0.3,
      },
      { code: "console.log(p1, p2)" },
      { code: "console.log(p3)", pause: 0.3 },
      { code: "const data = [1, 2]; let later = 5;" },
      {
        code:
          "console.log({ data }); console.log({ data, p2, other: 3 }); " +
          "({ later } = { later: 6 }); console.log(later);",
      },
      // A type error after an expanded shorthand: its column is the cell's own (1:27 is `n`).
      { code: 'const o = { data }; const n: number = "x";', pause: 0.3 },
      { code: "console.log(typeof o, typeof n)", pause: 0.3 },
      { code: 'console.log("alive")' },
    ]);
    const [failed, kept, unreached, declare, shorthand, typed, notDeclared, alive] = cells;
    expect(failed).toMatchObject({ status: "error" });
    expect(kept).toMatchObject({ status: "ok", stdout: "1 { a: 1 }\n", stderr: "" });
    expect(unreached.status).toBe("error");
    expect(unreached.stderr).toMatch(
      /^ReferenceError: p3 is not defined: cell \[1\] declares it but failed before reaching/,
    );
    expect(declare.status).toBe("ok");
    expect(shorthand).toMatchObject({
      status: "ok",
      stdout: "{ data: [ 1, 2 ] }\n{ data: [ 1, 2 ], p2: { a: 1 }, other: 3 }\n6\n",
      stderr: "",
    });
    expect(typed.status).toBe("error");
    expect(typed.stderr).toBe("1:27 - Type 'string' is not assignable to type 'number'.\n");
    expect(notDeclared.status).toBe("error"); // the cell with the type error ran nothing
    expect(notDeclared.stderr).toContain("Cannot find name 'o'");
    expect(alive).toMatchObject({ status: "ok", stdout: "alive\n" });
  });
});

describe("the course kernel with the wasm backend loaded", () => {
  let run: SessionResult;
  let busy: SessionResult;
  const checksLine = lineOf("core/checks.ts", "must lie in [${lo}, ${hi}]");

  beforeAll(() => {
    run = course([
      { code: SETUP },
      // Run All: a cell printing 600 lines, then at once one printing 5000 (stdout and stderr
      // mixed), then more.
      {
        burst: [
          printLines("line", 600),
          "for (let i = 0; i < 5000; i++) { console.log(`row ${i}`); " +
            "if (i % 10 === 0) console.error(`err ${i}`); }",
          'console.log("after")',
        ],
      },
      // A long session: the socket has sent thousands of messages; 200 more lines after a pause.
      { code: printLines("late", 200) },
      { code: TIMER_THROWS, pause: 0.3 },
      {
        // Thrown after the cell has ended (1.5 s: a cell's own end takes longer than 0.15 s on a
        // loaded machine) and before the next cell (3 s).
        code:
          'setTimeout(() => { throw new Error("thrown later"); }, 1500); ' +
          'console.log("started")',
        pause: 3,
      },
      { code: 'console.log("not run")', pause: 0.3 },
      {
        code:
          "const z = () => fm.randn([2, 2]) as fm.tf.Tensor2D; " +
          "fm.condOTPath().sample(z(), z(), 1.2)",
        pause: 0.3,
      },
      // Raised in solveOde, re-thrown by sampleFlow (whose own option checks come first).
      { code: NAN_SAMPLING, pause: 0.3 },
      // Every backend: wasm stays loaded (its handlers were installed), cpu now computes.
      { code: 'await fm.initBackend({ backend: "cpu" });' },
      { code: TIMER_THROWS, pause: 0.3 },
      { code: 'console.log("alive", fm.tf.getBackend())' },
    ]);
    // Run All while both cores are busy with other work, with more output than zeromq queues by
    // default (1000 messages a reader): without the high-water marks off, ~15000 of 20000 arrived.
    const burners = cpuBurners(2);
    try {
      busy = course([
        { code: SETUP },
        { burst: [printLines("line", 20000), 'console.log("after")'] },
      ]);
    } finally {
      burners.stop();
    }
  }, 900_000);

  it("loads wasm as the notebooks do", () => {
    expect(run.cells[0]).toMatchObject({ status: "ok", stderr: "" });
    expect(run.cells[0].stdout).toMatch(/^TensorFlow\.js backend: wasm/);
  });

  it("delivers every line of Run All's printing cells, in order, and lives", () => {
    const [, lines600, lines5000, after, late] = run.cells;
    expect(lines600).toMatchObject({
      status: "ok",
      stdout: numberedLines("line", 600),
      stderr: "",
    });
    expect(lines5000.status).toBe("ok");
    expect(lines5000.stdout).toBe(numberedLines("row", 5000));
    expect(lines5000.stderr).toBe(
      Array.from({ length: 500 }, (_, i) => `err ${10 * i}\n`).join(""),
    );
    expect(after).toMatchObject({ status: "ok", stdout: "after\n" });
    expect(late).toMatchObject({ status: "ok", stdout: numberedLines("late", 200) });
    expect(run.log).not.toContain("could not send");
  });

  it("delivers every line while the CPU is busy", () => {
    expect(busy.problem).toBeNull();
    expect(busy.cells[1]).toMatchObject({
      status: "ok",
      stdout: numberedLines("line", 20000),
      stderr: "",
    });
    expect(busy.cells[2]).toMatchObject({ status: "ok", stdout: "after\n" });
    expect(busy.alive).toBe(true);
  });

  it("fails the running cell, or the next one, for an error thrown in a timer, and lives", () => {
    const [timer, starter, next] = run.cells.slice(5, 8);
    expect(timer.status).toBe("error");
    expect(timer.stderr).toMatch(
      /^Uncaught exception while this cell ran: Error: boom from a timer/,
    );
    expect(starter).toMatchObject({ status: "ok", stdout: "started\n" });
    expect(next.status).toBe("error");
    expect(next.stderr).toContain(
      "Uncaught exception after cell [7] had finished " +
        "(from code still running in the background): Error: thrown later",
    );
    expect(next.stderr).toContain("This cell was not run");
    const [cpu, cpuTimer, alive] = run.cells.slice(10);
    expect(cpu.status).toBe("ok");
    expect(cpuTimer.status).toBe("error");
    expect(cpuTimer.stderr).toMatch(
      /^Uncaught exception while this cell ran: Error: boom from a timer/,
    );
    expect(alive).toMatchObject({ status: "ok", stdout: "alive cpu\n" });
    expect(run.alive).toBe(true);
    expect(run.problem).toBeNull();
    // The wasm backend's re-throwing handlers were left out, and Jupyter's log says so.
    expect(run.log).toMatch(
      /handles 'uncaughtException' itself; a listener added .*tfjs-backend-wasm/,
    );
  });

  it("shows library errors message first, located in the .ts sources, without excerpts", () => {
    const [range, sampling] = run.cells.slice(8, 10);
    for (const cell of [range, sampling]) {
      expect(cell.status).toBe("error");
      // No compiled file (none exists on disk).
      expect(cell.stderr).not.toMatch(/src[\\/][\w/]+\.js\b/);
      expect(cell.stderr).not.toContain("throw err");
      expect(cell.stderr).not.toMatch(/^\s*\^+\s*$/m); // no caret under an excerpt
    }
    expect(range.stderr).toMatch(/^Error: t must lie in \[0, 1\]; got 1\.2\n/);
    expect(range.stderr).toContain(`${join(ROOT, "src", "core", "checks.ts")}:${checksLine}:`);
    expect(sampling.stderr).toMatch(/^Error: [^\n]*the state became NaN in step 1 of 4/);
    expect(sampling.stderr).toMatch(/src[\\/]model[\\/]sample\.ts:\d+:\d+/);
    expect(sampling.stderr).toMatch(/src[\\/]solvers[\\/]ode\.ts:\d+:\d+/);
  });
});

describe("plain tslab (negative control: why the launcher wraps it)", () => {
  it("replies ok to cells whose promise rejects or whose timer throws", () => {
    const { cells } = plain([
      {
        code: 'Promise.reject(new Error("nobody awaits me")); console.log("cell body done")',
        pause: 0.3,
      },
      {
        code: 'setTimeout(() => { throw new Error("from a timer"); }, 0); console.log("scheduled")',
        pause: 0.3,
      },
      { code: 'console.log("next")' },
    ]);
    const [rejected, timer, next] = cells;
    expect(rejected).toMatchObject({ status: "ok", stdout: "cell body done\n" });
    expect(timer).toMatchObject({ status: "ok", stdout: "scheduled\n" });
    expect(next).toMatchObject({ status: "ok", stdout: "next\n" });
  });

  it(
    "lives on after answering a shutdown request while a timer runs, until Jupyter kills " + "it",
    () => {
      const r = shutdownSession(kernels.dir, "tslab-plain", LEFT_RUNNING, 5);
      expect(r).toMatchObject({ ran: "ok", exited: false });
    },
  );

  it("sends each printed line as a message of its own", () => {
    const { cells } = plain([{ code: printLines("line", 400) }]);
    expect(cells[0]).toMatchObject({ status: "ok", stdout: numberedLines("line", 400) });
    expect(cells[0].messages).toEqual(Array.from({ length: 400 }, () => "stream:stdout"));
  });

  it("with wasm loaded, dies on Run All of a cell printing 600 lines, losing lines", () => {
    const r = plain([
      { code: WASM_ONLY },
      { burst: [printLines("line", 600), 'console.log("after")'] },
    ]);
    expect(r.cells[0].stdout).toBe("wasm\n");
    expect(r.alive).toBe(false);
    expect(r.log).toContain("EBUSY");
    expect(r.cells[1].stdout.length).toBeLessThan(numberedLines("line", 600).length);
  });

  it("with wasm loaded, dies on an error thrown in a timer", () => {
    const r = plain([
      { code: WASM_ONLY },
      { code: TIMER_THROWS, pause: 0.3 },
      { code: 'console.log("next")' },
    ]);
    expect(r.alive).toBe(false);
    expect(r.exit).toBe(7); // Node: an exception handler threw (wasm's re-throw)
    expect(r.log).toContain("boom from a timer");
  });

  it("forgets a failed cell's names, rejects `{ data }`, shows compiled-code excerpts", () => {
    const { cells } = plain([
      { code: 'const p1 = 1; const p2 = { a: p1 }; throw new Error("stops here");', pause: 0.3 },
      { code: "console.log(p1, p2)", pause: 0.3 },
      { code: "const data = [1, 2];" },
      { code: "console.log({ data })", pause: 0.3 },
      { code: 'import * as fm from "./src/index";' },
      { code: "fm.condOTScheduler().at(1.2)", pause: 0.3 },
      // Raised in solveOde, re-thrown by sampleFlow (whose own option checks come first).
      { code: NAN_SAMPLING, pause: 0.3 },
    ]);
    const [thrown, forgotten, , shorthand, , range, sampling] = cells;
    // An excerpt and a caret come first.
    expect(thrown.stderr).toMatch(/^evalmachine\.<anonymous>:\d+\n.*\n\^/);
    expect(forgotten.status).toBe("error");
    expect(forgotten.stderr).toContain("Cannot find name 'p2'");
    expect(shorthand.status).toBe("error");
    expect(shorthand.stderr).toContain("ReferenceError: data is not defined");
    // A compiled file that is not on disk.
    expect(range.stderr).toMatch(/^\S+src[\\/]core[\\/]checks\.js:\d+\n/);
    expect(sampling.stderr).toMatch(/src[\\/]model[\\/]sample\.js:\d+\n\s*throw err;/);
  });
});

// What notebook 00's "Working in the kernel" tells students, checked in the course kernel.
describe("working in the kernel (notebook 00)", () => {
  it("a failed cell keeps what ran before the error; a type error runs nothing", () => {
    const { cells } = course([
      { code: "const seen: number[] = [];" },
      {
        code: 'seen.push(1); const kept = 2; console.log("ran"); throw new Error("boom");',
        pause: 0.5,
      },
      { code: "console.log(seen.length, kept);" },
      { code: 'seen.push(4); const q: number = "text";', pause: 0.5 },
      { code: "console.log(seen.join(','));" },
    ]);
    const [setup, failed, after, typeError, afterType] = cells;
    expect(setup.status).toBe("ok");
    expect(failed).toMatchObject({ status: "error", stdout: "ran\n" });
    expect(after).toMatchObject({ status: "ok", stdout: "1 2\n" });
    // a type error runs nothing of its cell: seen stays [1]
    expect(typeError.status).toBe("error");
    expect(afterType).toMatchObject({ status: "ok", stdout: "1\n" });
  });

  it("re-running an import does not reload the files the imported module imports", () => {
    const sub = `build/kernel-habits-${process.pid}`;
    const write = (v: number) =>
      `require("fs").writeFileSync("${sub}/b.ts", "export const b = ${v};\\n");`;
    const steps = [
      { code: `require("fs").mkdirSync("${sub}", { recursive: true }); ${write(1)}` },
      { code: `require("fs").writeFileSync("${sub}/a.ts", 'export { b } from "./b";\\n');` },
      { code: `import { b } from "./${sub}/a"; console.log(b);` },
      { code: write(2) },
      { code: `import { b } from "./${sub}/a"; console.log(b);` },
    ];
    try {
      const first = course(steps).cells;
      expect(first.map((c) => c.status)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
      expect([first[2].stdout, first[4].stdout]).toEqual(["1\n", "1\n"]); // the edit is not seen
      // control: a new kernel (a restart) sees the edited file
      const restarted = course([steps[2]]).cells;
      expect(restarted[0]).toMatchObject({ status: "ok", stdout: "2\n" });
    } finally {
      rmSync(join(ROOT, sub), { recursive: true, force: true });
    }
  });

  it("Kernel > Interrupt stops a long loop and keeps the earlier cells' state", () => {
    const { cells } = course([
      { code: "let spins = 0;" },
      { code: "while (true) { spins++; }", interrupt: 3, pause: 0.5 },
      { code: "console.log(spins > 0);" },
    ]);
    const [setup, loop, after] = cells;
    expect(setup.status).toBe("ok");
    expect(loop.status).toBe("error");
    expect(loop.stderr).toMatch(/interrupted/i);
    expect(after).toMatchObject({ status: "ok", stdout: "true\n" });
  });
});
