#!/usr/bin/env node
// `npm run bench`: the course's TensorFlow.js training step and sampler, measured side by side in
// one run against a PyTorch reference of the same model, batch, loss and optimiser
// (bench/reference.py), with the ratios and the targets of issue 5 (and issue 19's image network).
//
//   npm run bench                      3 rounds, each case alternating TF.js and PyTorch; medians
//   npm run bench -- --rounds 5        more rounds
//   npm run bench -- --check           exit 1 when a target is missed
//   npm run bench -- --only image      only the cases whose `what` is listed (train, sample, image;
//                                      comma-separated)
//
// The reference runs on Debian's python3-torch with OpenBLAS (libopenblas0-openmp), on one thread
// (the issue's targets), and again on as many threads as TF.js uses (printed beside, for a fair
// view): Debian's default BLAS is the slow reference one, and OpenBLAS 0.3.21 does not recognise
// recent processors, so the kernel family is named for it (OPENBLAS_CORETYPE, from the CPU's
// flags). As root on Debian the packages are installed when missing; otherwise the command to run
// is printed. The reference is used only here, never by the course.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const rounds = args.includes("--rounds") ? Number(args[args.indexOf("--rounds") + 1]) : 3;
if (!Number.isInteger(rounds) || rounds < 1) {
  console.error(`--rounds must be a positive integer; got ${args[args.indexOf("--rounds") + 1]}`);
  process.exit(2);
}
const PYTHON = process.env.FM_PYTHON || "/usr/bin/python3";
const OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-openmp";
const PACKAGES = ["python3-torch", "libopenblas0-openmp"];

function run(cmd, argv, env = {}) {
  const r = spawnSync(cmd, argv, {
    cwd: ROOT,
    encoding: "utf8",
    env: { ...process.env, ...env },
    maxBuffer: 1 << 26,
  });
  return r;
}

function cpuFlags() {
  try {
    const line = readFileSync("/proc/cpuinfo", "utf8")
      .split("\n")
      .find((l) => l.startsWith("flags"));
    return new Set((line ?? "").split(":")[1]?.trim().split(/\s+/) ?? []);
  } catch {
    return new Set();
  }
}

/**
 * The environment of the reference: OpenBLAS on `threads` threads, the kernel family this CPU
 * supports.
 */
function referenceEnv(threads) {
  const flags = cpuFlags();
  const env = { OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  if (existsSync(OPENBLAS))
    env.LD_LIBRARY_PATH =
      OPENBLAS + (process.env.LD_LIBRARY_PATH ? `:${process.env.LD_LIBRARY_PATH}` : "");
  if (flags.has("avx512f")) env.OPENBLAS_CORETYPE = "SKYLAKEX";
  else if (flags.has("avx2")) env.OPENBLAS_CORETYPE = "HASWELL";
  return env;
}

function referenceReady() {
  return run(PYTHON, ["-c", "import torch"]).status === 0 && existsSync(OPENBLAS);
}

function ensureReference() {
  if (referenceReady()) return true;
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  if (root && existsSync("/etc/debian_version")) {
    console.log(`Installing the PyTorch reference (${PACKAGES.join(", ")}) from Debian...`);
    let r = run("apt-get", ["install", "-y", "--no-install-recommends", ...PACKAGES], {
      DEBIAN_FRONTEND: "noninteractive",
    });
    if (r.status !== 0) {
      run("apt-get", ["update"]);
      r = run("apt-get", ["install", "-y", "--no-install-recommends", ...PACKAGES], {
        DEBIAN_FRONTEND: "noninteractive",
      });
    }
    if (r.status === 0 && referenceReady()) return true;
    console.error(`Could not install the reference:\n${r.stderr.slice(-2000)}`);
    return false;
  }
  console.error(
    `The PyTorch reference is missing (${PYTHON} cannot import torch, or ${OPENBLAS} is ` +
      `absent).\n` +
      `Install it with: sudo apt-get install ${PACKAGES.join(" ")}   (or set FM_PYTHON to a ` +
      `python with torch)\n` +
      `Measuring the TensorFlow.js side only.`,
  );
  return false;
}

const CASES = [
  {
    name: "training step, width 64 x 3, batch 256 (ms)",
    what: "train",
    flags: ["--width", "64", "--batch", "256", "--steps", "1000", "--warmup", "2000"],
    key: "msPerStep",
    target: 2,
  },
  {
    name: "training step, width 256 x 3, batch 1024 (ms)",
    what: "train",
    flags: ["--width", "256", "--batch", "1024", "--steps", "40", "--warmup", "10"],
    key: "msPerStep",
    target: 4,
  },
  {
    name: "sampling 10,000 particles, 100 Euler steps, width 64 (s)",
    what: "sample",
    flags: ["--width", "64", "--particles", "10000", "--euler-steps", "100"],
    key: "seconds",
    target: 2,
  },
  // notebook 09 (issue 19): the class-conditional image network on 100 codes, batch 128
  {
    name: "image network step, 100 codes + labels, 256 x 3, batch 128 (ms)",
    what: "image",
    flags: [
      "--dim",
      "100",
      "--classes",
      "10",
      "--width",
      "256",
      "--depth",
      "3",
      "--batch",
      "128",
      "--steps",
      "500",
      "--warmup",
      "500",
    ],
    key: "msPerStep",
    target: 3,
  },
];
const ONLY = args.includes("--only") ? String(args[args.indexOf("--only") + 1]).split(",") : null;
if (ONLY && !ONLY.every((w) => CASES.some((c) => c.what === w))) {
  const kinds = [...new Set(CASES.map((c) => c.what))];
  console.error(`--only takes case kinds among ${kinds}; got ${ONLY}`);
  process.exit(2);
}
if (ONLY) CASES.splice(0, CASES.length, ...CASES.filter((c) => ONLY.includes(c.what)));

function measure(side, c, threads) {
  const r =
    side === "tfjs"
      ? run(process.execPath, [
          "-r",
          join(ROOT, "src", "core", "ts-register.cjs"),
          join(ROOT, "bench", "bench.ts"),
          c.what,
          ...c.flags,
        ])
      : run(
          PYTHON,
          [join(ROOT, "bench", "reference.py"), c.what, ...c.flags, "--threads", String(threads)],
          referenceEnv(threads),
        );
  if (r.status !== 0) throw new Error(`${side} ${c.what} failed:\n${r.stderr || r.stdout}`);
  return JSON.parse(r.stdout.trim().split("\n").pop());
}

const median = (v) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (v) =>
  v === undefined ? "-" : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(3);

const withReference = ensureReference();
// The issue's reference is PyTorch on ONE thread. TF.js uses the library's default threads (one per
// core on wasm), so PyTorch on as many threads is measured too and printed beside it, for a fair
// view.
const results = CASES.map(() => ({ tfjs: [], pytorch: [], pytorchSame: [] }));
let backend = "?";
let tfThreads = 1;
let torchVersion = "";
for (let round = 1; round <= rounds; round++) {
  process.stdout.write(`round ${round}/${rounds}:`);
  CASES.forEach((c, i) => {
    const a = measure("tfjs", c);
    backend = a.backend;
    tfThreads = a.threads;
    results[i].tfjs.push(a[c.key]);
    if (withReference) {
      const b = measure("pytorch", c, 1);
      torchVersion = b.torch;
      results[i].pytorch.push(b[c.key]);
      if (tfThreads > 1) results[i].pytorchSame.push(measure("pytorch", c, tfThreads)[c.key]);
    }
    process.stdout.write(` ${i + 1}`);
  });
  process.stdout.write("\n");
}

const coretype = referenceEnv(1).OPENBLAS_CORETYPE ?? "auto";
console.log(
  `\nTensorFlow.js backend: ${backend}, ${tfThreads} thread${tfThreads > 1 ? "s" : ""}; ` +
    `reference: ${withReference ? `PyTorch ${torchVersion}, OpenBLAS ${coretype}` : "not run"}; ` +
    `medians of ${rounds} rounds\n`,
);
const same = tfThreads > 1 && withReference;
const head = ["case", `TF.js (${tfThreads}t)`, "PyTorch (1t)", "ratio", "target", "met"];
if (same) head.push(`PyTorch (${tfThreads}t)`, "ratio");
const rows = [head];
let missed = 0;
CASES.forEach((c, i) => {
  const a = median(results[i].tfjs);
  const b = withReference ? median(results[i].pytorch) : undefined;
  const ratio = b ? a / b : undefined;
  const met = ratio === undefined ? "-" : ratio <= c.target ? "yes" : "no";
  if (met === "no") missed++;
  const row = [
    c.name,
    fmt(a),
    fmt(b),
    ratio === undefined ? "-" : `${ratio.toFixed(2)}x`,
    `<= ${c.target}x`,
    met,
  ];
  if (same) {
    const b2 = median(results[i].pytorchSame);
    row.push(fmt(b2), `${(a / b2).toFixed(2)}x`);
  }
  rows.push(row);
});
const widths = rows[0].map((_, j) => Math.max(...rows.map((r) => r[j].length)));
for (const r of rows)
  console.log(r.map((v, j) => (j === 0 ? v.padEnd(widths[j]) : v.padStart(widths[j]))).join("  "));
const every = (v) => v.map(fmt).join("/") || "-";
console.log(
  `\n(ratio = TF.js time / PyTorch time; the targets are against PyTorch on one thread, as issue ` +
    `5 sets them; every round: ` +
    CASES.map(
      (c, i) =>
        `${i + 1}: ${every(results[i].tfjs)} vs ` +
        `${every(results[i].pytorch)}` +
        `${same ? ` (${tfThreads}t: ${every(results[i].pytorchSame)})` : ""}`,
    ).join("; ") +
    ")",
);
if (args.includes("--check") && (missed > 0 || !withReference)) process.exit(1);
