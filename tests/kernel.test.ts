// The course kernel (scripts/kernel.js) against tslab's real behaviour, one Jupyter session driven
// cell by cell (tests/fixtures/kernel_session.py), with pauses between cells where a student would
// leave them. Plain tslab is the negative control: the same cells pass there.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import { mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";

const ROOT = join(__dirname, "..");
const PYTHON = process.env.FM_PYTHON || "/usr/bin/python3";

interface CellResult {
  status: "ok" | "error";
  stdout: string;
  stderr: string;
  count: number | null;
}
interface Step {
  code: string;
  /** Seconds to wait after the cell before the next one. */
  pause?: number;
  /** Seconds after sending the cell to interrupt the kernel (Kernel > Interrupt). */
  interrupt?: number;
}

let dir = "";
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "fm-kernel-"));
  const { writeKernelSpec, kernelSpec } = await import(pathToFileURL(join(ROOT, "scripts", "install-kernel.mjs")).href);
  writeKernelSpec(join(dir, "jupyter", "kernels"), kernelSpec());
  // tslab as it comes: started in the course root, nothing wrapped.
  const plain = [
    "process.chdir(process.argv[1]);",
    'require("tslab/dist/main").startKernel({ configPath: process.argv[2], enableFindLocal: false, jsKernel: false, globalVersion: "" });',
  ].join(" ");
  const plainDir = join(dir, "jupyter", "kernels", "tslab-plain");
  require("fs").mkdirSync(plainDir, { recursive: true });
  writeFileSync(
    join(plainDir, "kernel.json"),
    JSON.stringify({ argv: [process.execPath, "-e", plain, ROOT, "{connection_file}"], display_name: "plain tslab", language: "typescript", env: { NODE_PATH: join(ROOT, "node_modules") } }),
  );
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the steps in one kernel session started in `startDir`. */
function session(kernel: string, steps: Step[], startDir = ROOT): CellResult[] {
  const stepsPath = join(dir, `steps-${Date.now()}-${Math.random().toString(36).slice(2)}.json`);
  writeFileSync(stepsPath, JSON.stringify(steps));
  const r = spawnSync(PYTHON, [join(ROOT, "tests", "fixtures", "kernel_session.py"), kernel, startDir, stepsPath], {
    encoding: "utf8",
    env: { ...process.env, JUPYTER_PATH: join(dir, "jupyter") },
    timeout: 120_000,
  });
  if (r.status !== 0) throw new Error(`kernel session failed (exit ${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split("\n").pop() as string);
}

const sleep = (ms: number) => `await new Promise((resolve) => setTimeout(resolve, ${ms}));`;

describe("the course kernel", () => {
  it("starts in the course root, also when Jupyter starts it in notebooks/", () => {
    const [cwd] = session("flow-matching", [{ code: "console.log(process.cwd())" }], join(ROOT, "notebooks"));
    expect(cwd).toMatchObject({ status: "ok", stdout: `${ROOT}\n`, stderr: "" });
  });

  it("fails cells for thrown errors, rejections and callback exceptions, and keeps working", () => {
    const results = session("flow-matching", [
      { code: 'console.log("fine")' },
      // tslab aborts requests arriving within 200 ms of a failed cell (its stop-on-error): pause.
      { code: 'throw new Error("thrown in the cell")', pause: 0.3 },
      { code: 'Promise.reject(new Error("nobody awaits me")); console.log("cell body done")', pause: 0.3 },
      { code: 'setTimeout(() => { throw new Error("from a timer"); }, 0); console.log("scheduled")', pause: 0.3 },
      { code: `const p = Promise.reject(new Error("handled a moment later")); ${sleep(20)} p.catch(() => {}); console.log("handled")` },
      { code: 'const n: number = "one";', pause: 0.3 },
      { code: 'console.log("still alive")' },
    ]);
    const [fine, thrown, rejected, timer, handled, typed, alive] = results;
    expect(fine).toMatchObject({ status: "ok", stdout: "fine\n", stderr: "" });

    expect(thrown.status).toBe("error");
    expect(thrown.stderr).toContain("Error: thrown in the cell");
    // Stack frames inside tslab, the launcher and Node are dropped; the cell's own frame stays.
    expect(thrown.stderr).not.toMatch(/node_modules[\\/]tslab|scripts[\\/]kernel\.js|node:internal/);
    expect(thrown.stderr).toContain("evalmachine");

    expect(rejected).toMatchObject({ status: "error", stdout: "cell body done\n" });
    expect(rejected.stderr).toMatch(/^Unhandled promise rejection while this cell ran: Error: nobody awaits me/);

    expect(timer).toMatchObject({ status: "error", stdout: "scheduled\n" });
    expect(timer.stderr).toMatch(/^Uncaught exception while this cell ran: Error: from a timer/);

    expect(handled).toMatchObject({ status: "ok", stdout: "handled\n", stderr: "" });

    expect(typed.status).toBe("error");
    expect(typed.stderr).toContain("Type 'string' is not assignable to type 'number'");

    expect(alive).toMatchObject({ status: "ok", stdout: "still alive\n", stderr: "" });
  });

  it("fails the next cell, without running it, for a rejection from code left running in the background", () => {
    const [starter, next, again, later] = session("flow-matching", [
      { code: 'setTimeout(() => { Promise.reject(new Error("late failure")); }, 100); console.log("started")', pause: 0.6 },
      { code: "(globalThis as any).ranNext = true;", pause: 0.3 },
      { code: "console.log((globalThis as any).ranNext)" },
      { code: "(globalThis as any).ranNext = true; console.log((globalThis as any).ranNext)" },
    ]);
    expect(starter).toMatchObject({ status: "ok", stdout: "started\n" });
    // Printed when it happened, under the cell that had run last (front ends show late output).
    expect(starter.stderr).toContain("Unhandled promise rejection after cell [1] had finished");
    expect(starter.stderr).toContain("late failure");

    expect(next.status).toBe("error");
    expect(next.count).toBe(2);
    expect(next.stderr).toContain("Unhandled promise rejection after cell [1] had finished (from code still running in the background): Error: late failure");
    expect(next.stderr).toContain("This cell was not run");
    expect(again).toMatchObject({ status: "ok", stdout: "undefined\n", stderr: "" }); // the failed cell did not run
    expect(later).toMatchObject({ status: "ok", stdout: "true\n", stderr: "" });
  });
});

describe("plain tslab (negative control: why the launcher wraps it)", () => {
  it("replies ok to cells whose promise rejects or whose timer throws", () => {
    const [rejected, timer, next] = session("tslab-plain", [
      { code: 'Promise.reject(new Error("nobody awaits me")); console.log("cell body done")', pause: 0.3 },
      { code: 'setTimeout(() => { throw new Error("from a timer"); }, 0); console.log("scheduled")', pause: 0.3 },
      { code: 'console.log("next")' },
    ]);
    expect(rejected).toMatchObject({ status: "ok", stdout: "cell body done\n" });
    expect(timer).toMatchObject({ status: "ok", stdout: "scheduled\n" });
    expect(next).toMatchObject({ status: "ok", stdout: "next\n" });
  });
});

// What notebook 00's "Working in the kernel" tells students, checked in the course kernel.
describe("working in the kernel (notebook 00)", () => {
  it("a failed cell keeps its side effects but loses the names it declares", () => {
    const [setup, failed, after, again, typeError, afterType] = session("flow-matching", [
      { code: "const seen: number[] = [];" },
      { code: 'seen.push(1); const lost = 2; console.log("ran"); throw new Error("boom");', pause: 0.5 },
      { code: 'console.log(seen.length, typeof lost === "undefined" ? "" : lost);', pause: 0.5 },
      { code: "const lost = 3; console.log(lost);" },
      { code: 'seen.push(4); const q: number = "text";', pause: 0.5 },
      { code: "console.log(seen.join(','));" },
    ]);
    expect(setup.status).toBe("ok");
    expect(failed).toMatchObject({ status: "error", stdout: "ran\n" });
    // `lost` is unknown afterwards: the cell that reads it does not even compile
    expect(after.status).toBe("error");
    expect(after.stderr).toMatch(/Cannot find name 'lost'/);
    expect(again).toMatchObject({ status: "ok", stdout: "3\n" });
    // a type error runs nothing of its cell: seen stays [1]
    expect(typeError.status).toBe("error");
    expect(afterType).toMatchObject({ status: "ok", stdout: "1\n" });
  });

  it("re-running an import does not reload the files the imported module imports", () => {
    const sub = `build/kernel-habits-${process.pid}`;
    const write = (v: number) => `require("fs").writeFileSync("${sub}/b.ts", "export const b = ${v};\\n");`;
    const steps = [
      { code: `require("fs").mkdirSync("${sub}", { recursive: true }); ${write(1)}` },
      { code: `require("fs").writeFileSync("${sub}/a.ts", 'export { b } from "./b";\\n');` },
      { code: `import { b } from "./${sub}/a"; console.log(b);` },
      { code: write(2) },
      { code: `import { b } from "./${sub}/a"; console.log(b);` },
    ];
    try {
      const first = session("flow-matching", steps);
      expect(first.map((c) => c.status)).toEqual(["ok", "ok", "ok", "ok", "ok"]);
      expect([first[2].stdout, first[4].stdout]).toEqual(["1\n", "1\n"]); // the edit is not seen
      // control: a new kernel (a restart) sees the edited file
      const restarted = session("flow-matching", [steps[2]]);
      expect(restarted[0]).toMatchObject({ status: "ok", stdout: "2\n" });
    } finally {
      rmSync(join(ROOT, sub), { recursive: true, force: true });
    }
  });

  it("Kernel > Interrupt stops a long loop and keeps the earlier cells' state", () => {
    const [setup, loop, after] = session("flow-matching", [
      { code: "let spins = 0;" },
      { code: "while (true) { spins++; }", interrupt: 3, pause: 0.5 },
      { code: "console.log(spins > 0);" },
    ]);
    expect(setup.status).toBe("ok");
    expect(loop.status).toBe("error");
    expect(loop.stderr).toMatch(/interrupted/i);
    expect(after).toMatchObject({ status: "ok", stdout: "true\n" });
  });
});
