// Kernel sessions for the kernel tests (not a test file itself): a Jupyter client drives a kernel
// cell by cell or in bursts (tests/fixtures/kernel_session.py), and a CPU burner loads the machine.
import { spawn, spawnSync, type ChildProcess } from "child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";

export const ROOT = join(__dirname, "..");
const PYTHON = process.env.FM_PYTHON || "/usr/bin/python3";
const DRIVER = join(ROOT, "tests", "fixtures", "kernel_session.py");

export interface CellResult {
  status: "ok" | "error" | "abort" | null;
  stdout: string;
  stderr: string;
  count: number | null;
  /** The cell's output messages in order: "stream:stdout", "stream:stderr", "display_data", ... */
  messages: string[];
}
export interface SessionResult {
  cells: CellResult[];
  /** The kernel still ran after the last step. */
  alive: boolean;
  exit: number | null;
  /** Why the driver stopped early ("the kernel died", a timeout), or null. */
  problem: string | null;
  /** What the kernel wrote on its own stderr. */
  log: string;
}
/** One cell run alone (then `pause` seconds), or cells sent at once as Run All sends them. */
export type Step =
  | { code: string; pause?: number; interrupt?: number; interrupt_when?: string; timeout?: number }
  | { burst: string[]; pause?: number; timeout?: number };

/**
 * A folder of kernelspecs (`<dir>/kernels/<name>/kernel.json`) for JUPYTER_PATH, removed by
 * `dispose`.
 */
export function kernelFolder(): {
  dir: string;
  addSpec(name: string, spec: object): void;
  dispose(): void;
} {
  const dir = mkdtempSync(join(tmpdir(), "fm-kernels-"));
  return {
    dir,
    addSpec(name, spec) {
      mkdirSync(join(dir, "kernels", name), { recursive: true });
      writeFileSync(join(dir, "kernels", name, "kernel.json"), JSON.stringify(spec));
    },
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/** The environment of a Jupyter client that finds its kernels in `jupyterPath` only. */
function kernelEnv(jupyterPath: string): NodeJS.ProcessEnv {
  return { ...process.env, JUPYTER_PATH: jupyterPath, JUPYTER_DATA_DIR: join(jupyterPath, "data") };
}

/** What tests/fixtures/kernel_shutdown.py saw after asking a kernel to shut down. */
export interface ShutdownResult {
  ran: string | null;
  /** The process ended by itself (no signal was sent while watching). */
  exited: boolean;
  code: number | null;
  seconds: number | null;
}

/** Starts `kernel`, runs `code`, asks it to shut down and watches its process for `wait` s. */
export function shutdownSession(
  jupyterPath: string,
  kernel: string,
  code: string,
  wait: number,
): ShutdownResult {
  const r = spawnSync(
    PYTHON,
    [join(ROOT, "tests", "fixtures", "kernel_shutdown.py"), kernel, ROOT, code, String(wait)],
    {
      encoding: "utf8",
      env: kernelEnv(jupyterPath),
      timeout: 600_000,
    },
  );
  if (r.status !== 0)
    throw new Error(`shutdown session failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
  return JSON.parse(r.stdout) as ShutdownResult;
}

/**
 * Runs the steps in one session of kernel `kernel` (found on `jupyterPath`), started in `startDir`.
 */
export function session(
  jupyterPath: string,
  kernel: string,
  steps: Step[],
  startDir = ROOT,
  timeoutMs = 600_000,
): SessionResult {
  const stepsPath = join(
    jupyterPath,
    `steps-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}.json`,
  );
  writeFileSync(stepsPath, JSON.stringify(steps));
  try {
    const r = spawnSync(PYTHON, [DRIVER, kernel, startDir, stepsPath], {
      encoding: "utf8",
      env: kernelEnv(jupyterPath),
      timeout: timeoutMs,
      maxBuffer: 256 * 1024 * 1024,
    });
    if (r.status !== 0)
      throw new Error(`kernel session failed (exit ${r.status ?? r.signal}):\n${r.stderr}`);
    return JSON.parse(r.stdout) as SessionResult;
  } finally {
    rmSync(stepsPath, { force: true });
  }
}

/** Plain tslab as it comes (started in the course root, nothing wrapped): the negative control. */
export function plainTslabSpec(): object {
  const start = [
    "process.chdir(process.argv[1]);",
    'require("tslab/dist/main").startKernel({ configPath: process.argv[2],',
    'enableFindLocal: false, jsKernel: false, globalVersion: "" });',
  ].join(" ");
  return {
    argv: [process.execPath, "-e", start, ROOT, "{connection_file}"],
    display_name: "plain tslab",
    language: "typescript",
    env: { NODE_PATH: join(ROOT, "node_modules") },
  };
}

/** `count` processes that keep one core each busy until `stop()`. */
export function cpuBurners(count: number): { stop(): void } {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    children.push(spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }));
  }
  return { stop: () => children.forEach((c) => c.kill("SIGKILL")) };
}

/**
 * The lines `prefix 0` .. `prefix n-1`, each ending in a newline: what a printing loop must
 * deliver.
 */
export const numberedLines = (prefix: string, n: number) =>
  Array.from({ length: n }, (_, i) => `${prefix} ${i}\n`).join("");

/** A cell printing those lines, one console.log each. */
export const printLines = (prefix: string, n: number) =>
  `for (let i = 0; i < ${n}; i++) console.log(\`${prefix} \${i}\`);`;
