// The README's API section is a promise to students: its snippets must compile (tslab type-checks
// every cell) and run, in order, as one notebook session. This test extracts them, type-checks them
// with the project's tsc, and executes them.
import { describe, expect, it } from "vitest";
import { execFileSync } from "child_process";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "fs";
import { join, resolve } from "path";
import * as tf from "@tensorflow/tfjs";

const ROOT = resolve(__dirname, "..");
const IMPORT_LINE = 'import * as fm from "./src/index";';

/** The ```ts blocks of the README's API section, in order. */
export function apiSnippets(readme: string): string[] {
  const start = readme.indexOf("## API");
  if (start < 0) throw new Error("README has no '## API' section");
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]);
}

/**
 * One module whose `main` runs the snippets as a notebook would (top-level await inside an async
 * body).
 */
export function snippetModule(snippets: string[], importPath: string): string {
  const body = snippets
    .join("\n")
    .split("\n")
    .filter((line) => line.trim() !== IMPORT_LINE);
  return [
    `import * as fm from "${importPath}";`,
    "export async function main(): Promise<void> {",
    ...body.map((line) => "  " + line),
    "}",
    "",
  ].join("\n");
}

/**
 * Appended to the snippets: the values the README's comments state, checked in the same session.
 * Each line throws with the README's claim when it is false.
 */
const CLAIMS = `
const claim = (ok: boolean, what: string) => { if (!ok) throw new Error("README claims " + what); };
const close = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol;
const s = fm.condOTScheduler({ sigmaMin: 0.01 }).at(0.5);
claim(close(s.alpha, 0.5, 1e-12) && close(s.sigma, 0.505, 1e-12) && s.dAlpha === 1 &&
  close(s.dSigma, -0.99, 1e-12),
  "the sigmaMin scheduler values");
claim(fm.tf.max(fm.tf.abs(fm.tf.sub(u, dxt))).dataSync()[0] < 1e-5,
  "conditionalVelocity equals dxt on the lecture path");
claim(fm.tf.max(fm.tf.abs(fm.tf.sub(eps, x0))).dataSync()[0] < 1e-5,
  "velocityToEpsilon gives x0 back");
claim(fm.tf.max(fm.tf.abs(fm.tf.sub(back, u))).dataSync()[0] < 1e-4,
  "the score round trip returns u");
const rowSums = fm.tf.sum(data.posterior(x, 0.5), 1).dataSync();
claim(Array.from(rowSums).every((v) => close(v, 1, 1e-5)), "posterior rows sum to 1");
let threw = false; try { data.velocity(x, 1); } catch { threw = true; }
claim(threw, "data.velocity(x, 1) throws");
claim(sol.nfe === 200, "RK4 with 50 steps costs 200 evaluations; got " + sol.nfe);
const edSame = fm.energyDistance(sol.x, mix.sample(1000));
const edWrong = fm.energyDistance(z0, mix.sample(1000));
claim(edSame < 0.1 * edWrong,
  "the pushed samples match the mixture: ED " + edSame + " vs noise " + edWrong);
const exact = mix.logDensity(x, 1).dataSync();
const cnf = ll.logp.dataSync();
claim(exact.every((v, i) => close(v, cnf[i], 1e-2)),
  "the CNF log-likelihood matches the exact log-density");
const worst = fm.tf.max(fm.tf.abs(res.residual)).dataSync()[0];
const scale = fm.tf.max(fm.tf.abs(res.dpdt)).dataSync()[0];
claim(worst < 1e-2 * scale,
  "the continuity residual is small: " + worst + " against d/dt p up to " + scale);
claim(close(fm.sqrtSolutionParabola(0.8), 0.16, 1e-12) && fm.sqrtSolutionZero(0.8) === 0,
  "the sqrt solutions");
claim(fm.sqrtResidual(fm.sqrtSolutionParabola, [0.2, 0.5, 0.8]).every((r) => Math.abs(r) < 1e-6),
  "t^2/4 solves the sqrt ODE");
claim(model.describe() === "MLP 2+1 -> 2 x 32 elu -> 2, raw t, 1250 parameters",
  "the model description: " + model.describe());
claim(run.losses.length === 600 && gen.nfe === 40, "600 losses and 40 evaluations");
const edModel = fm.energyDistance(gen.x, mix.sample(1000));
const edNoise = fm.energyDistance(gen.x0, mix.sample(1000));
claim(edModel < 0.1 * edNoise,
  "the trained model's samples land on the mixture: ED " + edModel + " vs noise " + edNoise);
const mem = fm.memorisation(gen.x, train, mix.sample(1000)).ratio;
claim(mem > 0.6 && mem < 1.6, "memorisation ratio ~1; got " + mem);
claim(reloaded.theta.every((v, i) => v === model.theta[i]),
  "the reloaded model has the same parameters");
const pairing = [
  fm.minibatchCoupling(noise, moons, "independent"),
  fm.minibatchCoupling(noise, moons, "exact"),
];
claim(close(pairing[0].pairCost, 5.95, 0.005) && close(pairing[1].pairCost, 1.20, 0.005),
  "the two pairings' costs");
claim(close(pairing[1].pairCost, fm.exactW2Squared(noise, moons).cost, 1e-12),
  "exact OT's cost is the batch's W2^2");
claim([...pairing[1].partner].sort((a, b) => a - b).every((v, i) => v === i),
  "exact OT pairs by a permutation");
const entropic = fm.minibatchCoupling(noise, moons, {
  method: "sinkhorn",
  regularization: 0.05,
}).planCost;
claim(close(entropic, 1.23, 0.005) && entropic > pairing[1].pairCost,
  "the entropic plan costs a little more");
claim(otRun.couplingSeconds > 0 && otRun.couplingSeconds <= otRun.seconds,
  "coupling time is part of the training time");
claim(mlRun.nfePerStep === 8 && mlRun.losses.length === 10 && mlRun.secondsPerStep > 0,
  "ML training records its cost");
claim(Array.from(heldOutLl.dataSync()).every(Number.isFinite),
  "held-out log-likelihoods are finite");
claim(shipped.model.describe() === "MLP 2+1 -> 3 x 64 elu -> 2, raw t, 8706 parameters",
  "the shipped model");
claim((shipped.info.recipe as fm.ModelRecipe).training.steps === 3000,
  "the shipped model's recipe");
`;

describe("README API section", () => {
  const snippets = apiSnippets(readFileSync(join(ROOT, "README.md"), "utf8"));
  const dir = join(ROOT, "tests", ".readme-snippets");
  const file = join(dir, "snippets.ts");

  it("has a snippet for each object of the lecture and starts with the notebook import", () => {
    expect(snippets.length).toBeGreaterThanOrEqual(8);
    expect(snippets[0]).toContain(IMPORT_LINE);
  });

  it("type-checks as TypeScript (tslab rejects a cell with a type error)", () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, snippetModule(snippets, "../../src/index"));
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    const args = [
      tsc,
      "--noEmit",
      "--strict",
      "--esModuleInterop",
      "--skipLibCheck",
      "--target",
      "ES2020",
      "--module",
      "commonjs",
      "--moduleResolution",
      "node",
      "--lib",
      "ES2020,DOM",
      "--types",
      "node",
      file,
    ];
    try {
      execFileSync(process.execPath, args, { cwd: ROOT, encoding: "utf8", stdio: "pipe" });
    } catch (err) {
      const out = (err as { stdout?: string }).stdout ?? String(err);
      throw new Error(`README snippets do not type-check:\n${out}`);
    }
  });

  it("a type error in a snippet is caught (negative control)", () => {
    mkdirSync(dir, { recursive: true });
    const bad = join(dir, "bad.ts");
    writeFileSync(
      bad,
      snippetModule([...snippets, "const wrong: number = fm.condOTPath();"], "../../src/index"),
    );
    const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
    expect(() =>
      execFileSync(
        process.execPath,
        [
          tsc,
          "--noEmit",
          "--strict",
          "--esModuleInterop",
          "--skipLibCheck",
          "--target",
          "ES2020",
          "--module",
          "commonjs",
          "--moduleResolution",
          "node",
          "--types",
          "node",
          bad,
        ],
        { cwd: ROOT, stdio: "pipe" },
      ),
    ).toThrow();
  });

  it("runs top to bottom, and the values its comments promise hold", async () => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(file, snippetModule([...snippets, CLAIMS], "../../src/index"));
    const mod = await import(file);
    const before = tf.memory().numTensors;
    await mod.main();
    // The snippets keep their tensors (as a notebook session does): they allocate, never free.
    expect(tf.memory().numTensors).toBeGreaterThan(before);
    tf.disposeVariables();
    rmSync(dir, { recursive: true, force: true });
  });
});
