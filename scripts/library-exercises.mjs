// Library-level exercises (used by scripts/assignments.mjs and scripts/grade.mjs).
//
// A TA names functions of src/ (`eulerStep`, `AffineProbPath.conditionalVelocity`, `posterior`);
// the student copy of the library gets each body replaced by `throw new Error("TODO: implement
// <name>")`, keeping the signature (the inferred return type is written out when the source left it
// implicit) and the TSDoc.
//
// Hidden checks: the course's own vitest tests, run against the student's src/. Which tests check
// which function is found by mutation when the assignment is generated: the candidate test files
// (those that mention the function, or the ones the TA names) run once on the reference library (a
// test that fails there is not used) and once per function with only that function blanked; the
// tests that fail then are that function's checks. Grading runs the union of the files once, in a
// clean vitest process on the course's own library whose blanked functions call the student's
// (loaded from their src/ in their jail, scripts/grading/library-server.cjs): a function passes
// when all of its checks pass, and the student's code never shares a process with the tests. The
// test files are copied into the grading folder, never into the student's.
import { spawn } from "node:child_process";
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT, ts } from "./exercises.mjs";

/**
 * Test files never used as library checks: they run notebooks, a browser or a kernel (minutes, not
 * seconds).
 */
export const HEAVY_TESTS = new RegExp(
  String.raw`(^|/)(notebooks|browser|kernel|progress-kernel|readme|figure` +
    String.raw`s-export|assignments|grade|grade-\w+|grading-wire)\.test\.ts$`,
);

function walk(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/**
 * Every function of the library that can be blanked: top-level function declarations, functions
 * assigned to a top-level const, and class methods (named `Class.method`).
 * @returns {{ name: string, bare: string, file: string, node: object, source: object }[]}
 */
export function libraryFunctions(srcDir = join(ROOT, "src")) {
  const out = [];
  for (const file of walk(srcDir).sort()) {
    const text = readFileSync(file, "utf8");
    const sf = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
    for (const st of sf.statements) {
      if (ts.isFunctionDeclaration(st) && st.name && st.body)
        out.push({ name: st.name.text, bare: st.name.text, file, node: st, source: sf });
      if (ts.isVariableStatement(st)) {
        for (const d of st.declarationList.declarations) {
          if (
            ts.isIdentifier(d.name) &&
            d.initializer &&
            (ts.isArrowFunction(d.initializer) || ts.isFunctionExpression(d.initializer))
          ) {
            out.push({
              name: d.name.text,
              bare: d.name.text,
              file,
              node: d.initializer,
              source: sf,
            });
          }
        }
      }
      if (ts.isClassDeclaration(st) && st.name) {
        for (const m of st.members) {
          if (
            (ts.isMethodDeclaration(m) || ts.isGetAccessorDeclaration(m)) &&
            m.body &&
            m.name &&
            ts.isIdentifier(m.name)
          ) {
            out.push({
              name: `${st.name.text}.${m.name.text}`,
              bare: m.name.text,
              file,
              node: m,
              source: sf,
            });
          }
        }
      }
    }
  }
  return out;
}

/**
 * Resolves the names a TA gave (exact `Class.method`, or a bare name that is unique) to library
 * functions.
 */
export function resolveFunctions(names, srcDir = join(ROOT, "src")) {
  const all = libraryFunctions(srcDir);
  return names.map((name) => {
    const exact = all.filter((f) => f.name === name);
    if (exact.length === 1) return exact[0];
    const bare = all.filter((f) => f.bare === name);
    if (exact.length === 0 && bare.length === 1) return bare[0];
    const candidates = (exact.length ? exact : bare).map(
      (f) => `${f.name} (${relative(ROOT, f.file)})`,
    );
    if (candidates.length === 0) {
      const want = name.toLowerCase().split(".").pop();
      const common = (a, b) => {
        let k = 0;
        while (k < a.length && a[k] === b[k]) k++;
        return k;
      };
      const near = all
        .filter((f) => {
          const have = f.bare.toLowerCase();
          return (
            have.includes(want) ||
            want.includes(have) ||
            common(have, want) >= Math.min(5, want.length)
          );
        })
        .slice(0, 8)
        .map((f) => f.name);
      throw new Error(
        `--blank ${name}: no function of that name in ` +
          `src/${near.length ? `; did you mean ${near.join(", ")}?` : ""}`,
      );
    }
    throw new Error(
      `--blank ${name}: ambiguous, it names ${candidates.join(", ")}; write Class.method`,
    );
  });
}

/** Return types of functions that do not write one, inferred by the compiler over the library. */
function inferredReturnTypes(functions, srcDir) {
  const need = functions.filter((f) => !f.node.type);
  const out = new Map();
  if (!need.length) return out;
  const program = ts.createProgram(walk(srcDir), {
    strict: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.NodeJs,
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    types: ["node"],
  });
  const checker = program.getTypeChecker();
  for (const f of need) {
    const sf = program.getSourceFile(f.file);
    const found = findSame(sf, f);
    const sig = found && checker.getSignatureFromDeclaration(found);
    if (!sig) continue;
    const text = checker.typeToString(
      checker.getReturnTypeOfSignature(sig),
      found,
      ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinitionFromCurrentScope,
    );
    if (!/import\(/.test(text)) out.set(f.name, text);
  }
  return out;
}

function findSame(sf, f) {
  let hit = null;
  const visit = (n) => {
    if (hit) return;
    if (n.kind === f.node.kind && n.pos === f.node.pos && n.end === f.node.end) hit = n;
    else ts.forEachChild(n, visit);
  };
  visit(sf);
  return hit;
}

/**
 * Blanks the named functions in a copy of the library: `destSrc` (created) gets src/ with each body
 * replaced by `throw new Error("TODO: implement <name>")`, or by what `bodyOf(name, index, node)`
 * returns (the grader's remote calls).
 * @returns {{ name: string, file: string, signature: string, reference: string }[]} what was
 *   blanked
 *   (file relative to the course root; reference: the original text, for the TA)
 */
export function blankLibrary(
  names,
  destSrc,
  srcDir = join(ROOT, "src"),
  bodyOf = (name) => `throw new Error(${JSON.stringify(`TODO: implement ${name}`)});`,
) {
  const functions = resolveFunctions(names, srcDir);
  const returns = inferredReturnTypes(functions, srcDir);
  cpSync(srcDir, destSrc, { recursive: true });
  const byFile = new Map();
  for (const f of functions) byFile.set(f.file, [...(byFile.get(f.file) ?? []), f]);
  const blanked = [];
  for (const [file, fs] of byFile) {
    let text = readFileSync(file, "utf8");
    // From the end of the file backwards, so earlier offsets stay valid.
    for (const f of [...fs].sort((a, b) => b.node.pos - a.node.pos)) {
      const sf = f.source;
      const node = f.node;
      const body = node.body;
      const lineStart = text.lastIndexOf("\n", node.getStart(sf)) + 1;
      const indent = /^[ \t]*/.exec(text.slice(lineStart))[0];
      const start = body.getStart(sf);
      const line = bodyOf(f.name, functions.indexOf(f), node);
      const replacement = `{\n${indent}  ${line}\n${indent}}`;
      const reference = text.slice(node.getStart(sf), node.end);
      text = text.slice(0, start) + replacement + text.slice(body.end);
      let signature = text.slice(node.getStart(sf), start).trimEnd();
      if (!node.type && returns.has(f.name)) {
        // Write the inferred return type after the parameter list: a body that only throws would
        // make it `never`.
        const close = text.lastIndexOf(")", start);
        const type = `: ${returns.get(f.name)}`;
        text = text.slice(0, close + 1) + type + text.slice(close + 1);
        signature = text.slice(node.getStart(sf), start + type.length).trimEnd();
      }
      blanked.push({ name: f.name, file: relative(ROOT, file), signature, reference });
    }
    writeFileSync(join(destSrc, relative(srcDir, file)), text);
  }
  return blanked.sort((a, b) => names.indexOf(a.name) - names.indexOf(b.name));
}

/** Type errors of a library copy (the blanked student library must still compile). */
export function typeErrors(srcDir) {
  const program = ts.createProgram(walk(srcDir), {
    strict: true,
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.CommonJS,
    moduleResolution: ts.ModuleResolutionKind.NodeJs,
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    types: ["node"],
    typeRoots: [join(ROOT, "node_modules", "@types")],
    // the copy may live outside the course: bare imports resolve in the course's node_modules
    baseUrl: srcDir,
    paths: { "*": [join(ROOT, "node_modules", "*")] },
  });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file
      ? `${relative(srcDir, d.file.fileName)}` +
        `:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}`
      : "";
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`.trim();
  });
}

/**
 * Candidate check files for a function: the course's test files that mention it (heavy ones
 * excluded).
 */
export function candidateTests(fn, testsDir = join(ROOT, "tests")) {
  const bare = fn.split(".").pop();
  return readdirSync(testsDir)
    .filter((f) => f.endsWith(".test.ts") && !HEAVY_TESTS.test(f))
    .sort()
    .filter((f) => new RegExp(`\\b${bare}\\b`).test(readFileSync(join(testsDir, f), "utf8")))
    .map((f) => `tests/${f}`);
}

/**
 * The test files plus what they import from tests/ (setup, helpers), relative to the course root.
 */
export function testClosure(files, root = ROOT) {
  const out = new Set(["tests/setup.ts"]);
  const queue = [...files];
  while (queue.length) {
    const f = queue.pop();
    if (out.has(f) && f !== "tests/setup.ts") continue;
    out.add(f);
    const text = readFileSync(join(root, f), "utf8");
    for (const m of text.matchAll(/from\s+["'](\.\/[^"']+)["']/g)) {
      const dep =
        relative(root, resolve(dirname(join(root, f)), m[1])) + (m[1].endsWith(".ts") ? "" : ".ts");
      if (existsSync(join(root, dep)) && !out.has(dep)) queue.push(dep);
    }
  }
  return [...out].sort();
}

/**
 * A folder where vitest can run the given tests against a given src/: package.json, tsconfig.json
 * and vitest.config.mts of the course, the tests (from `testsRoot`), the src, node_modules linked.
 */
export function vitestWorkdir({
  src,
  tests,
  testsRoot = ROOT,
  dir = mkdtempSync(join(tmpdir(), "fm-libcheck-")),
}) {
  mkdirSync(dir, { recursive: true });
  for (const f of ["package.json", "tsconfig.json", "vitest.config.mts"])
    cpSync(join(ROOT, f), join(dir, f));
  if (src !== join(dir, "src")) cpSync(src, join(dir, "src"), { recursive: true });
  for (const f of tests) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(testsRoot, f), join(dir, f));
  }
  if (!existsSync(join(dir, "node_modules")))
    symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

/**
 * Runs vitest on `files` in `dir`; resolves to per-test results { file, name, status, message } or
 * an `error` (crash, time limit).
 */
export function runVitest(dir, files, { timeout = 300 } = {}) {
  const out = join(dir, ".vitest-result.json");
  rmSync(out, { force: true });
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "NODE_OPTIONS"),
  );
  return new Promise((resolvePromise) => {
    const child = spawn(
      process.execPath,
      [
        join(ROOT, "node_modules", "vitest", "vitest.mjs"),
        "run",
        ...files,
        "--reporter=json",
        `--outputFile=${out}`,
      ],
      {
        cwd: dir,
        env,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let stderr = "";
    child.stdout.on("data", () => {});
    child.stderr.on("data", (d) => (stderr += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGKILL");
    }, timeout * 1000);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (timedOut)
        return resolvePromise({
          tests: [],
          error: `the library checks did not finish within ${timeout} s`,
          timeout: true,
        });
      const r = readVitestReport(out, dir);
      if (r.error)
        r.error =
          `vitest stopped without a result (exit ${code}): ` +
          `${stderr.trim().split("\n").slice(-8).join("\n")}`;
      resolvePromise(r);
    });
  });
}

/**
 * Per-test results of a vitest JSON report: { tests: [{ file, name, status, message }] }, or {
 * error }.
 */
export function readVitestReport(out, dir) {
  let report;
  try {
    report = JSON.parse(readFileSync(out, "utf8"));
  } catch {
    return { tests: [], error: "no report" };
  }
  const tests = [];
  for (const file of report.testResults ?? []) {
    const rel = relative(dir, file.name);
    for (const a of file.assertionResults ?? []) {
      tests.push({
        file: rel,
        name: a.fullName,
        status: a.status,
        message: (a.failureMessages ?? []).join("\n").split("\n")[0],
      });
    }
    if ((file.assertionResults ?? []).length === 0 && file.status === "failed") {
      tests.push({
        file: rel,
        name: "(the test file)",
        status: "failed",
        message: String(file.message ?? "could not load").split("\n")[0],
      });
    }
  }
  return { tests };
}

/**
 * Finds each blanked function's checks by mutation (see the header).
 * @param {string[]} names - the functions (as the TA wrote them)
 * @param {{ tests?: string[], timeout?: number, log?: (s: string) => void }} [options]
 *   tests: candidate test files (default: those that mention each function)
 * @returns {Promise<{ files: string[], functions: { name: string, tests: { file: string, name:
 *   string }[] }[] }>}
 */
export async function attributeChecks(names, options = {}) {
  const { timeout = 300, log = () => {} } = options;
  const resolved = resolveFunctions(names);
  const candidates = options.tests?.length
    ? options.tests
    : [...new Set(resolved.flatMap((f) => candidateTests(f.name)))];
  if (!candidates.length)
    throw new Error(
      `no test file mentions ${names.join(", ")}: name the check files with --checks ` +
        `tests/x.test.ts`,
    );
  const closure = testClosure(candidates);
  const work = mkdtempSync(join(tmpdir(), "fm-attribute-"));
  try {
    log(`  library checks: running ${candidates.join(", ")} on the reference library ...`);
    const baseDir = vitestWorkdir({
      src: join(ROOT, "src"),
      tests: closure,
      dir: join(work, "reference"),
    });
    const base = await runVitest(baseDir, candidates, { timeout });
    if (base.error)
      throw new Error(`the candidate checks do not run on the reference library: ${base.error}`);
    const good = new Set(
      base.tests.filter((t) => t.status === "passed").map((t) => `${t.file}\u0000${t.name}`),
    );
    const functions = [];
    for (const f of resolved) {
      const dir = join(work, `blank-${functions.length}`);
      mkdirSync(dir, { recursive: true });
      blankLibrary([f.name], join(dir, "src"));
      vitestWorkdir({ src: join(dir, "src"), tests: closure, dir });
      log(`  library checks: which tests does blanking ${f.name} break? ...`);
      const r = await runVitest(dir, candidates, { timeout });
      if (r.error) throw new Error(`running the checks with ${f.name} blanked failed: ${r.error}`);
      const broken = r.tests
        .filter((t) => t.status !== "passed" && good.has(`${t.file}\u0000${t.name}`))
        .map((t) => ({ file: t.file, name: t.name }));
      if (!broken.length)
        throw new Error(
          `no test of ${candidates.join(", ")} fails when ${f.name} is blanked: name check files ` +
            `that exercise it with --checks`,
        );
      functions.push({ name: f.name, tests: broken });
    }
    const files = [...new Set(functions.flatMap((f) => f.tests.map((t) => t.file)))].sort();
    return { files, closure: testClosure(files), functions };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// -------------------------------------------------------------------------------------------------
// Grading: the hidden tests run clean, the student's functions in their jail.

const TODO = /TODO(?: \(exercise \d+\))?: [^\n]*/;

/**
 * A blanked function's body in the clean test run: a call of the student's k-th function in the
 * jail.
 */
export function remoteBody(name, k, node) {
  const call = "(globalThis as any).fmGradingRemote.call";
  if (ts.isArrowFunction(node)) {
    const params = node.parameters.map((p) =>
      ts.isIdentifier(p.name) ? `${p.dotDotDotToken ? "..." : ""}${p.name.text}` : null,
    );
    if (params.includes(null))
      return (
        `throw new ` +
        `Error(${JSON.stringify(`the grader cannot call ${name} (a destructured parameter)`)});`
      );
    return `return ${call}(${k}, undefined, [${params.join(", ")}]);`;
  }
  return `return ${call}(${k}, this, arguments);`;
}

/** Copies a student's folder without following (or keeping) symbolic links. */
export function copyWithoutLinks(from, to) {
  cpSync(from, to, {
    recursive: true,
    filter: (p) => !lstatSync(p).isSymbolicLink() && !/[\\/]node_modules$/.test(p),
  });
}

/** What the library exercises score from one run's per-test results. */
export function libraryVerdicts(manifest, r) {
  const results = new Map(r.tests.map((t) => [`${t.file}\u0000${t.name}`, t]));
  return manifest.functions.map((f) => {
    let status = "passed";
    let message = "";
    const failing = [];
    if (r.error) {
      status = r.timeout ? "timeout" : "errored";
      message = r.error;
    } else {
      const others = manifest.functions.map((g) => g.name).filter((g) => g !== f.name);
      const blockedBy = (text) => others.find((g) => text.includes(`TODO: implement ${g}`));
      const blocked = [];
      for (const t of f.tests) {
        const got = results.get(`${t.file}\u0000${t.name}`);
        if (got && got.status !== "passed" && blockedBy(got.message))
          blocked.push({ ...t, by: blockedBy(got.message) });
        else if (!got || got.status !== "passed")
          failing.push({ ...t, message: got ? got.message : "did not run" });
      }
      // A test that also calls another blanked function still a TODO says nothing about this one.
      if (!failing.length && blocked.length === f.tests.length) {
        status = "errored";
        message =
          `cannot be checked yet: all of its ${f.tests.length} hidden test(s) also call ` +
          `${[...new Set(blocked.map((b) => b.by))].join(", ")}, still a TODO`;
      } else if (!failing.length && blocked.length) {
        message =
          `${blocked.length} of its hidden tests also call ` +
          `${[...new Set(blocked.map((b) => b.by))].join(", ")} (still a TODO) and were not ` +
          `counted`;
      }
      if (failing.length) {
        const todo = failing.find((x) => TODO.test(x.message));
        status = todo && failing.every((x) => TODO.test(x.message)) ? "errored" : "failed";
        message =
          `${failing.length} of ${f.tests.length} hidden test(s) fail; first: ` +
          `"${failing[0].name}": ` +
          String(
            todo && status === "errored"
              ? `not attempted: ` + `${TODO.exec(todo.message)[0]}`
              : failing[0].message,
          );
      }
    }
    return {
      name: f.name,
      file: f.file,
      points: f.points,
      score: status === "passed" ? f.points : 0,
      status,
      message,
      tests: f.tests.length,
      failing,
    };
  });
}

/**
 * Grades the library exercises of a student's folder: the TA's hidden tests (grading/library-tests)
 * run in a clean vitest process on the course's library, whose blanked functions call the student's
 * in their jail (scripts/grading/library-server.cjs). `run`: the GradingRun (grade.mjs) that owns
 * the jails.
 */
export async function gradeLibrary(run, grading, studentFolder, { timeout, student } = {}) {
  const manifest = grading.library;
  const t0 = Date.now();
  const summary = (functions) => ({
    seconds: (Date.now() - t0) / 1000,
    functions,
    score: functions.reduce((s, f) => s + f.score, 0),
    maxScore: functions.reduce((s, f) => s + f.points, 0),
  });
  const src = join(studentFolder, "src");
  if (!existsSync(join(src, "index.ts")) || lstatSync(src).isSymbolicLink()) {
    return summary(
      manifest.functions.map((f) => ({
        name: f.name,
        file: f.file,
        points: f.points,
        score: 0,
        status: "missing",
        message: "the submission has no src/",
        tests: f.tests.length,
        failing: [],
      })),
    );
  }
  const dir = mkdtempSync(join(run.work, "library-"));
  const names = manifest.functions.map((f) => f.name);
  // The clean side: the course's library with the blanked bodies calling out, and the hidden tests.
  const clean = join(dir, "clean");
  blankLibrary(names, join(clean, "src"), join(ROOT, "src"), remoteBody);
  vitestWorkdir({
    src: join(clean, "src"),
    tests: manifest.testSupport,
    testsRoot: join(grading.dir, "library-tests"),
    dir: clean,
  });
  writeFileSync(
    join(clean, "tests", "fm-grading-remote.ts"),
    [
      "// The autograder's connection to the student's functions (scripts/grading/clean.cjs " +
        "connectRemote).",
      'import * as fm from "../src/index";',
      'import { createRequire } from "module";',
      "const load = createRequire(import.meta.url);",
      "const { connectRemote } = load(process.env.FM_GRADING_CLEAN as string);",
      "(globalThis as any).fmGradingRemote = connectRemote({ io: process.env.FM_GRADING_IO, fm, " +
        "names: JSON.parse(process.env.FM_GRADING_FUNCTIONS as string) });",
      "",
    ].join("\n"),
  );
  writeFileSync(
    join(clean, "vitest.grading.mts"),
    [
      'import { defineConfig, mergeConfig } from "vitest/config";',
      'import base from "./vitest.config.mts";',
      "// One test file at a time: they share one channel to the student's functions.",
      "export default mergeConfig(base, defineConfig({ test: { setupFiles: " +
        '["tests/fm-grading-remote.ts"], fileParallelism: false } }));',
      "",
    ].join("\n"),
  );
  // The student's side, copied into their jail: their src/ and the server.
  const course = join(dir, "student");
  mkdirSync(join(course, ".grading"), { recursive: true });
  copyWithoutLinks(src, join(course, "src"));
  writeFileSync(
    join(course, "package.json"),
    JSON.stringify({ name: "flow-matching-course", private: true }) + "\n",
  );
  for (const f of ["library-server.cjs", "rpc.cjs", "codec.cjs", "hooks.cjs"])
    cpSync(join(ROOT, "scripts", "grading", f), join(course, ".grading", f));
  if (!run.jail) symlinkSync(join(ROOT, "node_modules"), join(course, "node_modules"), "dir");
  const out = join(clean, ".vitest-result.json");
  const limit = timeout ?? manifest.timeLimit ?? 600;
  const driven = await run.run({
    kind: "library",
    student,
    course,
    functions: manifest.functions.map((f) => ({ name: f.name, file: f.file })),
    clean: {
      argv: [
        process.execPath,
        join(ROOT, "node_modules", "vitest", "vitest.mjs"),
        "run",
        ...manifest.testFiles,
        "--config",
        "vitest.grading.mts",
        "--reporter=json",
        `--outputFile=${out}`,
      ],
      cwd: clean,
      env: {
        FM_GRADING_CLEAN: join(ROOT, "scripts", "grading", "clean.cjs"),
        FM_GRADING_FUNCTIONS: JSON.stringify(names),
        VITEST: "",
        NODE_OPTIONS: "",
      },
      timeout: limit,
    },
  });
  let r;
  if (driven.error) r = { tests: [], error: `the library checks could not run: ${driven.error}` };
  else if (driven.timeout)
    r = { tests: [], error: `the library checks did not finish within ${limit} s`, timeout: true };
  else {
    r = readVitestReport(out, clean);
    if (r.error)
      r.error =
        `the library checks stopped without a result (exit ${driven.exit}): ` +
        `${(driven.stderr ?? "").trim().split("\n").slice(-6).join("\n")}`;
  }
  rmSync(dir, { recursive: true, force: true });
  return {
    ...summary(libraryVerdicts(manifest, r)),
    ...(driven.leftover ? { leftover: driven.leftover } : {}),
  };
}
