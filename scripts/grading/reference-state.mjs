// The reference state's snapshot: what lets the grader's clean kernel skip the reference
// notebook's heavy cells.
//
// The hidden checks read some of the reference notebook's names (a trained model, a dataset, a
// table of results). Without a snapshot the clean kernel runs the whole reference notebook up to
// its last exercise, at the same time as the student's kernel runs it, on the same cores. With
// one, made once by `npm run assignments`:
//   1. a clean kernel runs the reference notebook in full and records, for every name the
//      notebook declares, a fingerprint of its value and, when the value is data (numbers,
//      arrays, plain objects, tensors, course models), its encoding (snapshot.cjs);
//   2. the plan: starting from the names the checks and the kept solutions read, each name is
//      restored from its encoding when it is data, or its cell is kept (and the names that cell
//      reads are needed in turn); types and imports are declared again;
//   3. a second clean kernel runs the plan (the kept cells in order, the restored values after the
//      first) and the fingerprint of every needed name must equal the full run's. Only then is
//      the snapshot written: <grading>/reference-state/<stem>.json.
// The grader uses it only when its key matches: the manifest's cells and checks and every file
// the reference run depends on (src/, assets/, the kernel, the snapshot code). Otherwise, or when
// verification failed, the clean kernel runs the reference notebook in full, as before.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { declaredNames, referencedNames } from "../exercises.mjs";
import { findPython } from "../notebooks.mjs";
import { gradedLayout, referenceCells } from "./plan.mjs";

export const REFERENCE_STATE_FORMAT = "flow-matching-reference-state/1";
const GRADING = dirname(fileURLToPath(import.meta.url));
const ROOT = join(GRADING, "..", "..");
const SNAPSHOT_CJS = join(GRADING, "snapshot.cjs");
const VALUE_KINDS = new Set(["const", "let", "var", "function", "class"]);
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/** Where a notebook's snapshot lives in a grading folder. */
export const referenceStatePath = (gradingDir, notebook) =>
  join(gradingDir, "reference-state", basename(notebook, ".ipynb") + ".json");

function hashTree(h, dir, base) {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    const s = statSync(p);
    if (s.isDirectory()) hashTree(h, p, base);
    else if (s.isFile()) {
      h.update(`${relative(base, p)}\u0000${s.size}\u0000`);
      h.update(readFileSync(p));
    }
  }
}

let libraryPrint = null;
/** A hash of every file the reference run depends on besides the notebook (computed once). */
export function libraryFingerprint(root = ROOT) {
  if (libraryPrint && libraryPrint.root === root) return libraryPrint.hash;
  const h = createHash("sha256");
  for (const dir of ["src", "assets"]) hashTree(h, join(root, dir), root);
  for (const f of [
    "tsconfig.json",
    "package-lock.json",
    "scripts/kernel.js",
    "scripts/grading/snapshot.cjs",
    "scripts/grading/codec.cjs",
    "scripts/grading/hooks.cjs",
  ]) {
    const p = join(root, f);
    h.update(`${f}\u0000`);
    if (existsSync(p)) h.update(readFileSync(p));
  }
  libraryPrint = { root, hash: h.digest("hex") };
  return libraryPrint.hash;
}

/** The key a snapshot must carry to be used for this manifest. */
export function referenceStateKey(manifest, root = ROOT) {
  return createHash("sha256")
    .update(
      JSON.stringify([
        REFERENCE_STATE_FORMAT,
        referenceCells(manifest),
        manifest.libraryAlias ?? null,
        manifest.exercises.map((e) => [e.number, (e.checks ?? []).map((c) => c.source)]),
        libraryFingerprint(root),
      ]),
    )
    .digest("hex");
}

/** The clean kernel's cells of a full run, with what each declares. */
function entriesOf(manifest) {
  const full = referenceCells(manifest);
  const layout = gradedLayout(manifest).filter((e) => e.role === "code" || e.role === "solution");
  return layout.map((e, k) => ({
    index: k,
    role: e.role,
    source: full[k],
    declared: declaredNames(full[k]),
  }));
}

/** The value names a full run may hold at its end (those the survey records). */
export function surveyedNames(manifest) {
  const exercise = new Set(manifest.exercises.flatMap((e) => Object.keys(e.values ?? {})));
  const names = new Set();
  for (const e of entriesOf(manifest))
    for (const d of e.declared)
      if (VALUE_KINDS.has(d.kind) && !exercise.has(d.name) && d.name !== manifest.libraryAlias)
        names.add(d.name);
  return [...names];
}

/**
 * The plan for a clean kernel that needs only part of the reference notebook, given what the full
 * run recorded (`survey`: {name: {wire?}}). Returns { keep: entry indices (in order), restore:
 * names, statements: type and import declarations declared again, needed: every value name the
 * plan provides, observed: those the checks can observe (the names verification compares),
 * after: the entry the restored values follow }.
 */
export function reducedPlan(manifest, survey) {
  const entries = entriesOf(manifest);
  const exercise = new Set(manifest.exercises.flatMap((e) => Object.keys(e.values ?? {})));
  const declaredBy = new Map(); // name -> { entry, kind, statement } (the last declaration wins)
  for (const e of entries) for (const d of e.declared) declaredBy.set(d.name, { entry: e, ...d });
  const alias = manifest.libraryAlias;
  const first = alias ? entries.find((e) => e.declared.some((d) => d.name === alias)) : entries[0];
  const keep = new Set();
  const restore = new Set();
  const statements = new Map(); // statement text -> declaring entry index
  const needed = new Set();
  const queue = [];
  const keepEntry = (e) => {
    if (!e || keep.has(e.index)) return;
    keep.add(e.index);
    queue.push(...referencedNames(e.source));
  };
  keepEntry(first);
  // Every solution stays in the form the full run has (the real one, or its declarations only):
  // the checks read the reference's names and compare the student's functions with them.
  for (const e of entries) if (e.role === "solution") keepEntry(e);
  for (const ex of manifest.exercises)
    for (const c of ex.checks ?? []) queue.push(...referencedNames(c.source));
  while (queue.length) {
    const name = queue.pop();
    const d = declaredBy.get(name);
    if (!d || exercise.has(name) || name === alias) continue;
    if (d.kind === "type" || d.kind === "import") {
      const text = d.statement.getText();
      if (!statements.has(text)) {
        statements.set(text, d.entry.index);
        queue.push(...referencedNames(text));
      }
      continue;
    }
    if (needed.has(name)) continue;
    needed.add(name);
    if (keep.has(d.entry.index)) continue;
    if (survey?.[name]?.wire !== undefined) restore.add(name);
    else keepEntry(d.entry);
  }
  // What the checks can observe: the names they and the solutions read, and, through a function
  // or an object that is not data (its code reads names when called), the names its declaration
  // reads. Other names a kept cell reads only shape what that cell makes.
  const observed = new Set();
  const look = [
    ...manifest.exercises.flatMap((ex) =>
      (ex.checks ?? []).flatMap((c) => [...referencedNames(c.source)]),
    ),
    ...entries.filter((e) => e.role === "solution").flatMap((e) => [...referencedNames(e.source)]),
  ];
  while (look.length) {
    const name = look.pop();
    const d = declaredBy.get(name);
    if (!d || !VALUE_KINDS.has(d.kind) || exercise.has(name) || name === alias) continue;
    if (observed.has(name)) continue;
    observed.add(name);
    if (survey?.[name]?.wire === undefined)
      look.push(...referencedNames((d.declaration ?? d.statement).getText()));
  }
  // A kept cell declares its names itself.
  const keptNames = new Set(
    entries.filter((e) => keep.has(e.index)).flatMap((e) => e.declared.map((d) => d.name)),
  );
  // A name a kept cell declares may have been changed by a later cell the plan leaves out (a
  // model trained in place): when it is data, it is given its final value at the end.
  const update = [...observed].filter((n) => {
    const d = declaredBy.get(n);
    return (
      keep.has(d.entry.index) &&
      ["const", "let", "var"].includes(d.kind) &&
      survey?.[n]?.wire !== undefined
    );
  });
  return {
    keep: [...keep].sort((a, b) => a - b),
    update: update.sort().map((n) => ({ name: n, kind: declaredBy.get(n).kind })),
    restore: [...restore].filter((n) => !keptNames.has(n)).sort(),
    statements: [...statements]
      .filter(([, k]) => !keep.has(k))
      .sort((a, b) => a[1] - b[1])
      .map(([text]) => text),
    needed: [...needed].sort(),
    observed: [...observed].sort(),
    after: first ? first.index : -1,
  };
}

/** The cell that declares a plan's types and restores its values from `stateFile`. */
export function restoreCell(manifest, plan, stateFile) {
  const alias = manifest.libraryAlias ?? "null";
  return [
    "// The reference state: these names hold the values the full reference notebook gave them",
    "// (written and checked by npm run assignments; see scripts/grading/reference-state.mjs).",
    ...plan.statements,
    `const fmReferenceState = require(${JSON.stringify(SNAPSHOT_CJS)})`,
    `  .restore(${alias}, ${JSON.stringify(stateFile)});`,
    ...plan.restore.map((n) => `const ${n}: any = fmReferenceState.get(${JSON.stringify(n)});`),
  ].join("\n");
}

/** The clean kernel's cells under a plan. */
export function planCells(manifest, plan, stateFile) {
  const entries = entriesOf(manifest);
  const out = [];
  for (const e of entries) {
    if (plan.keep.includes(e.index)) out.push(e.source);
    if (e.index === plan.after) out.push(restoreCell(manifest, plan, stateFile));
  }
  if (plan.after < 0) out.unshift(restoreCell(manifest, plan, stateFile));
  if (plan.update.length)
    out.push(
      [
        "// Names the kept cells declared, given the values later cells of the full notebook left",
        ...plan.update.map(({ name, kind }) =>
          kind === "const"
            ? `require(${JSON.stringify(SNAPSHOT_CJS)}).assignInPlace(` +
              `${manifest.libraryAlias ?? "null"}, ${name}, fmReferenceState.get(` +
              `${JSON.stringify(name)}), ${JSON.stringify(name)});`
            : `${name} = fmReferenceState.get(${JSON.stringify(name)});`,
        ),
      ].join("\n"),
    );
  return out;
}

/** A cell that records the named values (snapshot.cjs survey) into `file`. */
function surveyCell(manifest, names, file, store) {
  const alias = manifest.libraryAlias ?? "null";
  const getters = names.map((n) => `  ${JSON.stringify(n)}: () => ${n},`);
  return [
    `require(${JSON.stringify(SNAPSHOT_CJS)}).survey(${alias}, {`,
    ...getters,
    `}, ${JSON.stringify(file)}, { store: ${store} });`,
  ].join("\n");
}

/**
 * The snapshot a grader may use for `manifest`, or null with why not ({ snapshot, why }). A file
 * from another format, a manifest or a library that changed since, or a damaged file: null.
 */
export function loadReferenceState(gradingDir, manifest, root = ROOT) {
  const path = referenceStatePath(gradingDir, manifest.notebook);
  if (!existsSync(path)) return { snapshot: null, why: "no snapshot" };
  let s;
  try {
    s = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    return { snapshot: null, why: `the snapshot is not valid JSON (${e.message})` };
  }
  if (!s || s.format !== REFERENCE_STATE_FORMAT)
    return { snapshot: null, why: "the snapshot was written by another version" };
  if (s.key !== referenceStateKey(manifest, root))
    return {
      snapshot: null,
      why: "the notebook, its checks or the library changed since the snapshot was made",
    };
  const plan = s.plan;
  const ok =
    plan &&
    Array.isArray(plan.keep) &&
    plan.keep.every(Number.isInteger) &&
    Array.isArray(plan.restore) &&
    plan.restore.every((n) => typeof n === "string" && IDENTIFIER.test(n)) &&
    Array.isArray(plan.update) &&
    plan.update.every(
      (u) => u && IDENTIFIER.test(u.name) && ["const", "let", "var"].includes(u.kind),
    ) &&
    Array.isArray(plan.statements) &&
    plan.statements.every((t) => typeof t === "string") &&
    Number.isInteger(plan.after);
  if (!ok) return { snapshot: null, why: "the snapshot's plan is malformed" };
  return { snapshot: { path, plan, cells: planCells(manifest, plan, path) }, why: null };
}

function runCells(cells, { cwd, kernel, timeout, log }) {
  const dir = mkdtempSync(join(tmpdir(), "fm-reference-"));
  try {
    const spec = join(dir, "spec.json");
    writeFileSync(
      spec,
      JSON.stringify({ cells, cwd, kernel, timeout, log: join(dir, "kernel.log") }),
    );
    // The Python with Jupyter's client that the notebook runner and the grader use.
    const r = spawnSync(findPython(), [join(GRADING, "run-cells.py"), spec], {
      encoding: "utf8",
      timeout: (timeout + 120) * 1000,
      maxBuffer: 64 << 20,
    });
    if (r.status !== 0)
      throw new Error(
        `the kernel driver failed: ${(r.stderr || r.error?.message || "").trim().slice(-800)}`,
      );
    const out = JSON.parse(r.stdout);
    const failed = out.cells.findIndex((c) => c.status !== "ok" && c.status !== "stderr");
    if (failed >= 0) {
      const c = out.cells[failed];
      throw new Error(
        `cell ${failed + 1} of ${cells.length}: ${c.status}: ${(c.message || "").slice(0, 600)}`,
      );
    }
    log?.(out);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Makes and checks the snapshot of one notebook (see the header); writes it next to the manifest
 * when the check passes and removes a stale one when it does not. `course`: a folder the clean
 * kernels run in (the course's src/ and models), `kernel`: {name, dirs}.
 * @returns {{ ok: boolean, why?: string, full?: number, reduced?: number, plan?: object }}
 */
export function snapshotReference(gradingDir, manifest, { course, kernel, timeout = 900 }) {
  const path = referenceStatePath(gradingDir, manifest.notebook);
  rmSync(path, { force: true });
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const work = mkdtempSync(join(tmpdir(), "fm-reference-state-"));
  try {
    const names = surveyedNames(manifest);
    const surveyFile = join(work, "full.json");
    const full = runCells(
      [...referenceCells(manifest), surveyCell(manifest, names, surveyFile, true)],
      { cwd: course, kernel, timeout },
    );
    const survey = JSON.parse(readFileSync(surveyFile, "utf8"));
    const plan = reducedPlan(manifest, survey);
    const stateFile = join(work, "state.json");
    const restore = Object.fromEntries(
      [...plan.restore, ...plan.update.map((u) => u.name)].map((n) => [n, survey[n].wire]),
    );
    writeFileSync(stateFile, JSON.stringify({ restore }));
    const checkFile = join(work, "reduced.json");
    let reduced;
    try {
      reduced = runCells(
        [
          ...planCells(manifest, plan, stateFile),
          surveyCell(manifest, plan.observed, checkFile, false),
        ],
        { cwd: course, kernel, timeout },
      );
    } catch (e) {
      return { ok: false, why: `the reduced run failed: ${e.message}`, plan };
    }
    const check = JSON.parse(readFileSync(checkFile, "utf8"));
    const differ = plan.observed.filter(
      (n) =>
        !survey[n] ||
        !check[n] ||
        survey[n].missing !== undefined ||
        check[n].missing !== undefined ||
        survey[n].fingerprint !== check[n].fingerprint,
    );
    if (differ.length)
      return {
        ok: false,
        why: `the reduced run gives other values for ${differ.join(", ")}`,
        plan,
      };
    const seconds = (run) => run.cells.reduce((a, c) => a + (c.seconds ?? 0), 0);
    const snapshot = {
      format: REFERENCE_STATE_FORMAT,
      notebook: manifest.notebook,
      key: referenceStateKey(manifest),
      plan,
      restore,
      measured: {
        full: Math.round(seconds(full) * 10) / 10,
        reduced: Math.round(seconds(reduced) * 10) / 10,
      },
    };
    const tmp = `${path}.tmp-${process.pid}`;
    writeFileSync(tmp, JSON.stringify(snapshot), { mode: 0o600 });
    renameSync(tmp, path);
    return { ok: true, plan, ...snapshot.measured };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
