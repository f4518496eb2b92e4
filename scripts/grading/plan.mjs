// What the autograder runs for one notebook of one student, built from the TA's manifest (never
// from what the submission says about itself): the cells of the student's kernel (the TA's cells,
// the student's answer cells in place of the solutions, a capture cell after each exercise), the
// cells of the clean kernel (the TA's reference notebook) and one check cell per auto-graded
// exercise for the clean kernel.
import { createHash, createHmac } from "node:crypto";
import { declaredNames, headingOf, isCheck, referencedNames, sourceOf } from "../exercises.mjs";

const tagsOf = (cell) => (Array.isArray(cell?.metadata?.tags) ? cell.metadata.tags : []);

/**
 * The student's answers to the notebook's exercises, read from a submitted notebook: per exercise
 * its code cells (those tagged as the exercise's answer, then the cells the student added right
 * after them) and its written answers. The TA's own cells are recognised by their id and never
 * taken from the submission.
 * @returns {{ answers: Map<number, { code: { source: string, cell: number, added: boolean }[],
 *   written: string[] }>,
 *   ignored: { code: number, changed: number } }}
 */
export function readAnswers(submission, manifest) {
  const known = new Map(manifest.layout.filter((e) => e.id).map((e) => [e.id, e]));
  const numbers = new Set(manifest.exercises.map((e) => e.number));
  const answers = new Map();
  const get = (n) => answers.get(n) ?? answers.set(n, { code: [], written: [] }).get(n);
  const ignored = { code: 0, changed: 0 };
  const answerOf = (cell) => {
    const n = cell.metadata?.exercise;
    if (
      Number.isInteger(n) &&
      (tagsOf(cell).includes("answer") || tagsOf(cell).includes("solution"))
    )
      return n;
    const e = typeof cell.id === "string" ? known.get(cell.id) : null;
    return e && (e.role === "solution" || e.role === "written") ? e.exercise : null;
  };
  let current = null; // the exercise whose answer the cells being read follow
  const cells = Array.isArray(submission?.cells) ? submission.cells : [];
  cells.forEach((cell, i) => {
    if (
      !cell ||
      typeof cell !== "object" ||
      (cell.cell_type !== "code" && cell.cell_type !== "markdown")
    )
      return;
    const source = sourceOf(cell);
    if (typeof source !== "string") return;
    const n = answerOf(cell);
    if (n !== null && numbers.has(n)) {
      if (cell.cell_type === "code") get(n).code.push({ source, cell: i + 1, added: false });
      else get(n).written.push(source);
      current = n;
      return;
    }
    // a check the submission carries: the TA's checks are the ones that count
    if (isCheck(cell)) return;
    const ta = typeof cell.id === "string" ? known.get(cell.id) : null;
    if (ta) {
      current = null;
      if (ta.source !== undefined && cell.cell_type === "code" && ta.source !== source)
        ignored.changed++;
      return;
    }
    if (headingOf(cell)) {
      current = null;
      return;
    }
    if (cell.cell_type !== "code" || !source.trim()) return;
    if (current !== null) get(current).code.push({ source, cell: i + 1, added: true });
    else ignored.code++;
  });
  return { answers, ignored };
}

/** The cell that loads the grader's helper into the student's kernel (before the first answer). */
export function setupCell(helperPath, alias) {
  return [
    `(globalThis as any).__fmGrading = require(${JSON.stringify(helperPath)});`,
    `(globalThis as any).__fmGrading.setup(${alias ?? "null"});`,
  ].join("\n");
}

/** The cell that prints exercise n's names as data. */
export function captureCell(n, names) {
  return `(globalThis as any).__fmGrading?.capture(${n}, ${JSON.stringify(names)});`;
}

/**
 * The part of a notebook that grading runs: everything up to its last exercise cell. What follows
 * (the appendix, the closing self-checks) cannot change a score: each exercise's values are
 * captured right after it, and its hidden checks, as in the notebook itself, read what the cells
 * before them declared. Neither kernel runs it, and the checks see the notebook as it stood at its
 * exercises. A notebook without exercises is run whole.
 */
export function gradedLayout(manifest) {
  const last = manifest.layout.findLastIndex((e) => Number.isInteger(e.exercise));
  return last < 0 ? manifest.layout : manifest.layout.slice(0, last + 1);
}

/**
 * The student kernel's cells: the TA's code cells in order up to the last exercise; at each
 * exercise, the student's answer cells and a capture cell; before the first answer, the helper's
 * setup.
 */
export function studentCells(manifest, answers, { helperPath }) {
  const out = [];
  const done = new Set();
  let setup = false;
  for (const e of gradedLayout(manifest)) {
    if (e.role === "code") out.push({ role: "ta", source: e.source });
    if (e.role !== "solution" || done.has(e.exercise)) continue;
    done.add(e.exercise);
    if (!setup) {
      out.push({ role: "setup", source: setupCell(helperPath, manifest.libraryAlias) });
      setup = true;
    }
    for (const c of answers.get(e.exercise)?.code ?? [])
      out.push({
        role: c.added ? "added" : "answer",
        exercise: e.exercise,
        source: c.source,
        cell: c.cell,
      });
    const ex = manifest.exercises.find((x) => x.number === e.exercise);
    out.push({
      role: "capture",
      exercise: e.exercise,
      source: captureCell(e.exercise, Object.keys(ex?.values ?? {})),
    });
  }
  return out;
}

/**
 * The clean kernel's cells: the reference notebook's code up to its last exercise, checks left out
 * (see gradedLayout). A solution runs there
 * only when later cells (the course's or other solutions) read a name it declares, or when the
 * exercise asks for a function (the grader compares the student's with it); any other solution is
 * replaced by declarations of its names, so the clean kernel does not redo the work the student's
 * kernel does at the same time.
 */
export function referenceCells(manifest) {
  const entries = gradedLayout(manifest).filter((e) => e.role === "code" || e.role === "solution");
  return entries.map((e, k) => {
    if (e.role === "code") return e.source;
    const ex = manifest.exercises.find((x) => x.number === e.exercise);
    const values = Object.entries(ex?.values ?? {});
    if (values.some(([, v]) => v.d?.t === "function")) return e.source;
    const later = new Set(entries.slice(k + 1).flatMap((x) => [...referencedNames(x.source)]));
    if (declaredNames(e.source).some((d) => later.has(d.name))) return e.source;
    const types = declaredNames(e.source)
      .filter((d) => d.kind === "type")
      .map((d) => d.statement.getText());
    return [
      `// exercise ${e.exercise}'s reference solution is not needed here: its types and names only`,
      ...types,
      ...values.map(([name, v]) => `let ${name}: ${v.type ?? "any"} = undefined as any;`),
    ].join("\n");
  });
}

/** The cell that loads the clean checker into the clean kernel, after the reference notebook. */
export function cleanSetupCell(cleanPath, alias) {
  return [
    `const fmGradingClean = require(${JSON.stringify(cleanPath)});`,
    `fmGradingClean.setup(${alias ?? "null"});`,
  ].join("\n");
}

/** A number for fm.seed before exercise n's check: the same for every student. */
export function checkSeed(notebook, n) {
  return (
    createHash("sha256").update(`${notebook}\u0000${n}`).digest().readUInt32BE(0) % 1_000_000_007
  );
}

/** The secret text the grader draws a student's test inputs from (never shown to the student). */
export function secretSeed(secret, student, notebook, n) {
  return createHmac("sha256", secret)
    .update(`${student}\u0000${notebook}\u0000${n}`)
    .digest("hex")
    .slice(0, 32);
}

/**
 * Exercise n's check cell for the clean kernel: the hidden check cells in one block, the student's
 * values bound (as the types the exercise declares) to the names the check reads, then the
 * student's functions compared with the reference's on secret inputs.
 * @returns {{ exercise: number, source: string, binds: Record<string, number> }}
 */
export function checkCell(manifest, n, { secret, student }) {
  const order = manifest.exercises.map((e) => e.number);
  const ex = manifest.exercises.find((e) => e.number === n);
  const checks = ex.checks.map((c) => c.source);
  // The names an exercise up to this one declares (a later exercise's declaration wins).
  const available = new Map();
  for (const m of order.slice(0, order.indexOf(n) + 1)) {
    for (const [name, info] of Object.entries(
      manifest.exercises.find((e) => e.number === m).values ?? {},
    ))
      available.set(name, { from: m, ...info });
  }
  const read = new Set(checks.flatMap((c) => [...referencedNames(c)]));
  const functions = Object.entries(ex.values ?? {})
    .filter(([, v]) => v.d?.t === "function" && v.kind !== "class")
    .map(([name]) => name);
  const names = [...available.keys()].filter((name) => read.has(name) || functions.includes(name));
  const spec = Object.fromEntries(
    names.map((name) => [name, { from: available.get(name).from, d: available.get(name).d }]),
  );
  const alias = manifest.libraryAlias;
  const reference = names.map((name) => `${name}: ${name}`).join(", ");
  const seed = JSON.stringify(secretSeed(secret, student, manifest.notebook, n));
  const bind = (name) =>
    `    const ${name}: ${available.get(name).type ?? "any"} = ` +
    `fmGradingCheck.get(${JSON.stringify(name)});`;
  const lines = [
    "{",
    `  const fmGradingCheck = fmGradingClean.exercise(${n}, {`,
    `    names: ${JSON.stringify(spec)},`,
    `    reference: () => ({ ${reference} }),`,
    "  });",
    ...(alias ? [`  ${alias}.seed(${checkSeed(manifest.notebook, n)});`] : []),
    "  {",
    ...names.filter((name) => read.has(name)).map(bind),
    checks.join("\n;\n"),
    "  }",
    `  fmGradingCheck.differential(${JSON.stringify(functions)}, ${seed});`,
    "}",
  ];
  return {
    exercise: n,
    source: lines.join("\n"),
    binds: Object.fromEntries(names.map((name) => [name, available.get(name).from])),
  };
}

/** A key for a reference notebook: students of the same notebook share one clean kernel. */
export function referenceKey(cells, clean) {
  return createHash("sha256")
    .update(JSON.stringify([cells, clean]))
    .digest("hex");
}
