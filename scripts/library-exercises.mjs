// Library-level exercises (used by scripts/assignments.mjs and scripts/grade.mjs).
//
// A TA names functions of src/ (`eulerStep`, `AffineProbPath.conditionalVelocity`, `posterior`); the student
// copy of the library gets each body replaced by `throw new Error("TODO: implement <name>")`, keeping the
// signature (the inferred return type is written out when the source left it implicit) and the TSDoc.
//
// Hidden checks: the course's own vitest tests, run against the student's src/. Which tests check which
// function is found by mutation when the assignment is generated: the candidate test files (those that
// mention the function, or the ones the TA names) run once on the reference library (a test that fails
// there is not used) and once per function with only that function blanked; the tests that fail then are
// that function's checks. Grading runs the union of the files once on the student's src/: a function
// passes when all of its checks pass. The test files are copied into the grading folder, never into the
// student's.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT, ts } from "./exercises.mjs";

/** Test files never used as library checks: they run notebooks, a browser or a kernel (minutes, not seconds). */
export const HEAVY_TESTS = /(^|\/)(notebooks|browser|kernel|progress-kernel|readme|figures-export|assignments|grade)\.test\.ts$/;

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
      if (ts.isFunctionDeclaration(st) && st.name && st.body) out.push({ name: st.name.text, bare: st.name.text, file, node: st, source: sf });
      if (ts.isVariableStatement(st)) {
        for (const d of st.declarationList.declarations) {
          if (ts.isIdentifier(d.name) && d.initializer && (ts.isArrowFunction(d.initializer) || ts.isFunctionExpression(d.initializer))) {
            out.push({ name: d.name.text, bare: d.name.text, file, node: d.initializer, source: sf });
          }
        }
      }
      if (ts.isClassDeclaration(st) && st.name) {
        for (const m of st.members) {
          if ((ts.isMethodDeclaration(m) || ts.isGetAccessorDeclaration(m)) && m.body && m.name && ts.isIdentifier(m.name)) {
            out.push({ name: `${st.name.text}.${m.name.text}`, bare: m.name.text, file, node: m, source: sf });
          }
        }
      }
    }
  }
  return out;
}

/** Resolves the names a TA gave (exact `Class.method`, or a bare name that is unique) to library functions. */
export function resolveFunctions(names, srcDir = join(ROOT, "src")) {
  const all = libraryFunctions(srcDir);
  return names.map((name) => {
    const exact = all.filter((f) => f.name === name);
    if (exact.length === 1) return exact[0];
    const bare = all.filter((f) => f.bare === name);
    if (exact.length === 0 && bare.length === 1) return bare[0];
    const candidates = (exact.length ? exact : bare).map((f) => `${f.name} (${relative(ROOT, f.file)})`);
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
          return have.includes(want) || want.includes(have) || common(have, want) >= Math.min(5, want.length);
        })
        .slice(0, 8)
        .map((f) => f.name);
      throw new Error(`--blank ${name}: no function of that name in src/${near.length ? `; did you mean ${near.join(", ")}?` : ""}`);
    }
    throw new Error(`--blank ${name}: ambiguous, it names ${candidates.join(", ")}; write Class.method`);
  });
}

/** Return types of functions that do not write one, inferred by the compiler over the library. */
function inferredReturnTypes(functions, srcDir) {
  const need = functions.filter((f) => !f.node.type);
  const out = new Map();
  if (!need.length) return out;
  const program = ts.createProgram(walk(srcDir), { strict: true, target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.NodeJs, esModuleInterop: true, skipLibCheck: true, noEmit: true, types: ["node"] });
  const checker = program.getTypeChecker();
  for (const f of need) {
    const sf = program.getSourceFile(f.file);
    const found = findSame(sf, f);
    const sig = found && checker.getSignatureFromDeclaration(found);
    if (!sig) continue;
    const text = checker.typeToString(checker.getReturnTypeOfSignature(sig), found, ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinitionFromCurrentScope);
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
 * Blanks the named functions in a copy of the library: `destSrc` (created) gets src/ with each body replaced
 * by `throw new Error("TODO: implement <name>")`.
 * @returns {{ name: string, file: string, signature: string, reference: string }[]} what was blanked
 *   (file relative to the course root; reference: the original text, for the TA)
 */
export function blankLibrary(names, destSrc, srcDir = join(ROOT, "src")) {
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
      const throwLine = `throw new Error(${JSON.stringify(`TODO: implement ${f.name}`)});`;
      const replacement = ts.isBlock(body) ? `{\n${indent}  ${throwLine}\n${indent}}` : `{\n${indent}  ${throwLine}\n${indent}}`;
      const reference = text.slice(node.getStart(sf), node.end);
      text = text.slice(0, start) + replacement + text.slice(body.end);
      let signature = text.slice(node.getStart(sf), start).trimEnd();
      if (!node.type && returns.has(f.name)) {
        // Write the inferred return type after the parameter list: a body that only throws would make it `never`.
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
  const program = ts.createProgram(walk(srcDir), { strict: true, target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.CommonJS, moduleResolution: ts.ModuleResolutionKind.NodeJs, esModuleInterop: true, skipLibCheck: true, noEmit: true, types: ["node"], typeRoots: [join(ROOT, "node_modules", "@types")],
    // the copy may live outside the course: bare imports resolve in the course's node_modules
    baseUrl: srcDir, paths: { "*": [join(ROOT, "node_modules", "*")] } });
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const where = d.file ? `${relative(srcDir, d.file.fileName)}:${d.file.getLineAndCharacterOfPosition(d.start).line + 1}` : "";
    return `${where} ${ts.flattenDiagnosticMessageText(d.messageText, "\n")}`.trim();
  });
}

/** Candidate check files for a function: the course's test files that mention it (heavy ones excluded). */
export function candidateTests(fn, testsDir = join(ROOT, "tests")) {
  const bare = fn.split(".").pop();
  return readdirSync(testsDir)
    .filter((f) => f.endsWith(".test.ts") && !HEAVY_TESTS.test(f))
    .sort()
    .filter((f) => new RegExp(`\\b${bare}\\b`).test(readFileSync(join(testsDir, f), "utf8")))
    .map((f) => `tests/${f}`);
}

/** The test files plus what they import from tests/ (setup, helpers), relative to the course root. */
export function testClosure(files, root = ROOT) {
  const out = new Set(["tests/setup.ts"]);
  const queue = [...files];
  while (queue.length) {
    const f = queue.pop();
    if (out.has(f) && f !== "tests/setup.ts") continue;
    out.add(f);
    const text = readFileSync(join(root, f), "utf8");
    for (const m of text.matchAll(/from\s+["'](\.\/[^"']+)["']/g)) {
      const dep = relative(root, resolve(dirname(join(root, f)), m[1])) + (m[1].endsWith(".ts") ? "" : ".ts");
      if (existsSync(join(root, dep)) && !out.has(dep)) queue.push(dep);
    }
  }
  return [...out].sort();
}

/**
 * A folder where vitest can run the given tests against a given src/: package.json, tsconfig.json and
 * vitest.config.mts of the course, the tests (from `testsRoot`), the src, node_modules linked.
 */
export function vitestWorkdir({ src, tests, testsRoot = ROOT, dir = mkdtempSync(join(tmpdir(), "fm-libcheck-")) }) {
  mkdirSync(dir, { recursive: true });
  for (const f of ["package.json", "tsconfig.json", "vitest.config.mts"]) cpSync(join(ROOT, f), join(dir, f));
  if (src !== join(dir, "src")) cpSync(src, join(dir, "src"), { recursive: true });
  for (const f of tests) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    cpSync(join(testsRoot, f), join(dir, f));
  }
  if (!existsSync(join(dir, "node_modules"))) symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  return dir;
}

/**
 * Runs vitest on `files` in `dir`; resolves to per-test results { file, name, status, message } or an
 * `error` (crash, time limit).
 */
export function runVitest(dir, files, { timeout = 300 } = {}) {
  const out = join(dir, ".vitest-result.json");
  rmSync(out, { force: true });
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("VITEST") && k !== "NODE_OPTIONS"));
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [join(ROOT, "node_modules", "vitest", "vitest.mjs"), "run", ...files, "--reporter=json", `--outputFile=${out}`], {
      cwd: dir,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
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
      if (timedOut) return resolvePromise({ tests: [], error: `the library checks did not finish within ${timeout} s`, timeout: true });
      let report;
      try {
        report = JSON.parse(readFileSync(out, "utf8"));
      } catch {
        return resolvePromise({ tests: [], error: `vitest stopped without a result (exit ${code}): ${stderr.trim().split("\n").slice(-8).join("\n")}` });
      }
      const tests = [];
      for (const file of report.testResults ?? []) {
        const rel = relative(dir, file.name);
        for (const a of file.assertionResults ?? []) {
          tests.push({ file: rel, name: a.fullName, status: a.status, message: (a.failureMessages ?? []).join("\n").split("\n")[0] });
        }
        if ((file.assertionResults ?? []).length === 0 && file.status === "failed") {
          tests.push({ file: rel, name: "(the test file)", status: "failed", message: String(file.message ?? "could not load").split("\n")[0] });
        }
      }
      resolvePromise({ tests });
    });
  });
}

/**
 * Finds each blanked function's checks by mutation (see the header).
 * @param {string[]} names - the functions (as the TA wrote them)
 * @param {{ tests?: string[], timeout?: number, log?: (s: string) => void }} [options]
 *   tests: candidate test files (default: those that mention each function)
 * @returns {Promise<{ files: string[], functions: { name: string, tests: { file: string, name: string }[] }[] }>}
 */
export async function attributeChecks(names, options = {}) {
  const { timeout = 300, log = () => {} } = options;
  const resolved = resolveFunctions(names);
  const candidates = options.tests?.length ? options.tests : [...new Set(resolved.flatMap((f) => candidateTests(f.name)))];
  if (!candidates.length) throw new Error(`no test file mentions ${names.join(", ")}: name the check files with --checks tests/x.test.ts`);
  const closure = testClosure(candidates);
  const work = mkdtempSync(join(tmpdir(), "fm-attribute-"));
  try {
    log(`  library checks: running ${candidates.join(", ")} on the reference library ...`);
    const baseDir = vitestWorkdir({ src: join(ROOT, "src"), tests: closure, dir: join(work, "reference") });
    const base = await runVitest(baseDir, candidates, { timeout });
    if (base.error) throw new Error(`the candidate checks do not run on the reference library: ${base.error}`);
    const good = new Set(base.tests.filter((t) => t.status === "passed").map((t) => `${t.file}\u0000${t.name}`));
    const functions = [];
    for (const f of resolved) {
      const dir = join(work, `blank-${functions.length}`);
      mkdirSync(dir, { recursive: true });
      blankLibrary([f.name], join(dir, "src"));
      vitestWorkdir({ src: join(dir, "src"), tests: closure, dir });
      log(`  library checks: which tests does blanking ${f.name} break? ...`);
      const r = await runVitest(dir, candidates, { timeout });
      if (r.error) throw new Error(`running the checks with ${f.name} blanked failed: ${r.error}`);
      const broken = r.tests.filter((t) => t.status !== "passed" && good.has(`${t.file}\u0000${t.name}`)).map((t) => ({ file: t.file, name: t.name }));
      if (!broken.length) throw new Error(`no test of ${candidates.join(", ")} fails when ${f.name} is blanked: name check files that exercise it with --checks`);
      functions.push({ name: f.name, tests: broken });
    }
    const files = [...new Set(functions.flatMap((f) => f.tests.map((t) => t.file)))].sort();
    return { files, closure: testClosure(files), functions };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

export async function gradeLibrary() {
  throw new Error("library grading: not yet");
}
