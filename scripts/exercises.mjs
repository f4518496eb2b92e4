// The notebooks' marked exercises, read mechanically (used by scripts/assignments.mjs and
// scripts/grade.mjs).
//
// The convention (notes for notebook authors): a markdown cell "### Exercise N: title" states the
// task; the solution code cell has metadata {"tags": ["solution"], "exercise": N} and starts with
// `// Solution to exercise N`; a markdown cell tagged "solution" holds a worked derivation; a later
// code cell with {"tags": ["exercise-check"], "exercise": N} asserts the solution is right (the
// hidden check).
//
// This module finds the exercises of any notebook (nothing is listed by hand), checks the tags,
// works out which names each solution must leave defined (those the checks or later cells read, and
// those the task names in backticks), infers their types with the TypeScript compiler (the
// notebook's code cells concatenated, as tslab sees them), and builds the student version of a
// notebook and its grading manifest.
import { createHash } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const NOTEBOOK_DIR = join(ROOT, "notebooks");
/** Version tag of the manifest format. */
export const MANIFEST_FORMAT = "flow-matching-assignment/2";

const require = createRequire(join(ROOT, "package.json"));
/** The TypeScript compiler the course uses (a devDependency). */
export const ts = require("typescript");

/** A cell's source as one string. */
export const sourceOf = (cell) =>
  Array.isArray(cell.source) ? cell.source.join("") : (cell.source ?? "");
const tagsOf = (cell) => (Array.isArray(cell.metadata?.tags) ? cell.metadata.tags : []);
export const isSolution = (cell) => tagsOf(cell).includes("solution");
export const isCheck = (cell) => tagsOf(cell).includes("exercise-check");

export function readNotebook(path) {
  return JSON.parse(readFileSync(path, "utf8"));
}

/** The course's notebooks (or those in `dir`), in file-name order. */
export function listNotebooks(dir = NOTEBOOK_DIR) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb") && !f.startsWith("."))
    .sort()
    .map((f) => join(dir, f));
}

const HEADING = /^#{2,4}\s*Exercise\s+(\d+)\s*[:.—-]?\s*(.*)$/m;

/** The exercise a markdown cell's heading opens ("### Exercise 3: title"), or null. */
export function headingOf(cell) {
  if (cell.cell_type !== "markdown") return null;
  const m = HEADING.exec(sourceOf(cell));
  return m ? { number: Number(m[1]), title: m[2].trim() } : null;
}

/** The notebook's first "# Title". */
export function titleOf(nb, fallback = "") {
  for (const cell of nb.cells) {
    if (cell.cell_type !== "markdown") continue;
    const m = /^#\s+(.+)$/m.exec(sourceOf(cell));
    if (m) return m[1].trim();
  }
  return fallback;
}

/** A broken exercise marking (a tag the tools cannot use): generation refuses such a notebook. */
export class ExerciseTagError extends Error {
  constructor(notebook, problems) {
    super(`${notebook}: broken exercise tags:\n  - ${problems.join("\n  - ")}`);
    this.name = "ExerciseTagError";
    this.problems = problems;
  }
}

/**
 * The exercises of a notebook, in order: { number, title, heading (cell index), statement (markdown
 * from the heading on), solutions: [{ index, type: "code" | "markdown" }], checks: [index] }, plus
 * `problems` (broken tags) and `warnings` (odd but usable).
 */
export function findExercises(nb) {
  const byNumber = new Map();
  const problems = [];
  const warnings = [];
  const get = (n) => {
    if (!byNumber.has(n))
      byNumber.set(n, {
        number: n,
        title: "",
        heading: null,
        statement: "",
        solutions: [],
        checks: [],
      });
    return byNumber.get(n);
  };
  nb.cells.forEach((cell, index) => {
    const head = headingOf(cell);
    if (head) {
      const ex = get(head.number);
      if (ex.heading !== null)
        problems.push(`cell ${index + 1}: a second heading for exercise ${head.number}`);
      ex.heading = index;
      ex.title = head.title;
      const text = sourceOf(cell);
      ex.statement = text.slice(HEADING.exec(text).index).trim();
    }
    const solution = isSolution(cell);
    const check = isCheck(cell);
    if (!solution && !check) return;
    const n = cell.metadata?.exercise;
    const what = solution ? "solution" : "exercise-check";
    if (solution && check) {
      problems.push(`cell ${index + 1}: tagged both "solution" and "exercise-check"`);
      return;
    }
    if (!Number.isInteger(n) || n < 1) {
      problems.push(
        `cell ${index + 1}: tagged "${what}" but its metadata "exercise" is ${JSON.stringify(n)} ` +
          `(a positive integer is needed)`,
      );
      return;
    }
    const ex = get(n);
    if (check) {
      if (cell.cell_type !== "code")
        problems.push(`cell ${index + 1}: an exercise-check cell must be a code cell`);
      else if (!ex.solutions.some((s) => s.type === "code"))
        problems.push(
          `cell ${index + 1}: the check of exercise ${n} comes before any code solution of it`,
        );
      else ex.checks.push(index);
      return;
    }
    if (cell.cell_type === "code") {
      const first = sourceOf(cell).split("\n")[0].trim();
      if (!new RegExp(`^//\\s*Solution to exercise ${n}\\b`).test(first)) {
        problems.push(
          `cell ${index + 1}: a solution of exercise ${n} must start with "// Solution to ` +
            `exercise ${n}"; it starts with ${JSON.stringify(first)}`,
        );
      }
      ex.solutions.push({ index, type: "code" });
    } else if (cell.cell_type === "markdown") {
      ex.solutions.push({ index, type: "markdown" });
    }
  });
  const exercises = [...byNumber.values()].sort((a, b) => a.number - b.number);
  for (const ex of exercises) {
    if (ex.heading === null)
      warnings.push(
        `exercise ${ex.number} has solution or check cells but no "### Exercise ${ex.number}: ` +
          `..." heading`,
      );
    if (ex.solutions.length === 0)
      warnings.push(`exercise ${ex.number} has no cell tagged "solution"`);
    if (ex.heading !== null) {
      const before = ex.solutions
        .concat(ex.checks.map((index) => ({ index })))
        .filter((s) => s.index < ex.heading);
      if (before.length)
        problems.push(
          `exercise ${ex.number}: tagged cells come before its heading (cell ${ex.heading + 1})`,
        );
    }
    if (ex.solutions.some((s) => s.type === "code") && ex.checks.length === 0) {
      warnings.push(
        `exercise ${ex.number} has a code solution but no exercise-check cell: it can only be ` +
          `marked by hand`,
      );
    }
  }
  return { exercises, problems, warnings };
}

// -------------------------------------------------------------------------------------------------
// Names: what a solution declares at top level, what later code reads.

function parse(code, name = "cell.ts") {
  return ts.createSourceFile(name, code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.TS);
}

function bindingNames(name, out = []) {
  if (ts.isIdentifier(name)) out.push(name.text);
  else for (const el of name.elements) if (!ts.isOmittedExpression(el)) bindingNames(el.name, out);
  return out;
}

/** Top-level names a piece of code declares: [{ name, kind, statement }]. */
export function declaredNames(code) {
  const out = [];
  for (const st of parse(code).statements) {
    if (ts.isVariableStatement(st)) {
      const flags = st.declarationList.flags;
      const kind = flags & ts.NodeFlags.Const ? "const" : flags & ts.NodeFlags.Let ? "let" : "var";
      for (const d of st.declarationList.declarations)
        for (const name of bindingNames(d.name))
          out.push({ name, kind, statement: st, declaration: d });
    } else if ((ts.isFunctionDeclaration(st) || ts.isClassDeclaration(st)) && st.name) {
      out.push({
        name: st.name.text,
        kind: ts.isFunctionDeclaration(st) ? "function" : "class",
        statement: st,
      });
    } else if (
      (ts.isInterfaceDeclaration(st) ||
        ts.isTypeAliasDeclaration(st) ||
        ts.isEnumDeclaration(st)) &&
      st.name
    ) {
      out.push({ name: st.name.text, kind: "type", statement: st });
    } else if (ts.isImportDeclaration(st) && st.importClause) {
      const c = st.importClause;
      if (c.name) out.push({ name: c.name.text, kind: "import", statement: st });
      if (c.namedBindings && ts.isNamespaceImport(c.namedBindings))
        out.push({ name: c.namedBindings.name.text, kind: "import", statement: st });
      if (c.namedBindings && ts.isNamedImports(c.namedBindings))
        for (const el of c.namedBindings.elements)
          out.push({ name: el.name.text, kind: "import", statement: st });
    }
  }
  return out;
}

/**
 * Every identifier a piece of code reads (property names after a dot and object-literal keys
 * excluded).
 */
export function referencedNames(code) {
  const names = new Set();
  const visit = (node) => {
    if (ts.isIdentifier(node)) {
      const p = node.parent;
      const propertyName =
        (p && ts.isPropertyAccessExpression(p) && p.name === node) ||
        (p && ts.isQualifiedName(p) && p.right === node) ||
        (p &&
          (ts.isPropertyAssignment(p) ||
            ts.isPropertySignature(p) ||
            ts.isMethodDeclaration(p) ||
            ts.isPropertyDeclaration(p)) &&
          p.name === node);
      if (!propertyName) names.add(node.text);
    }
    ts.forEachChild(node, visit);
  };
  visit(parse(code));
  return names;
}

/** Names written in backticks in a markdown text (`ex1Gap`, `toFlowTime(s)` -> toFlowTime). */
export function backtickNames(text) {
  const out = new Set();
  for (const m of text.matchAll(/`([^`]+)`/g)) {
    const id = /^([A-Za-z_$][\w$]*)/.exec(m[1].trim());
    if (id) out.add(id[1]);
  }
  return out;
}

/**
 * The alias the notebook imports the course library under (`import * as fm from "./src/index"`), or
 * null.
 */
export function libraryAlias(nb) {
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code") continue;
    const m = /import\s+\*\s+as\s+([A-Za-z_$][\w$]*)\s+from\s+["']\.\/src\/index["']/.exec(
      sourceOf(cell),
    );
    if (m) return m[1];
  }
  return null;
}

// -------------------------------------------------------------------------------------------------
// Types of the declared names, from the compiler: all code cells of a notebook concatenated into
// one module in the course root (so `./src/index` resolves), checked in one program for all
// notebooks at once.

const TYPE_OPTIONS = () => ({
  strict: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.ES2022,
  moduleResolution: ts.ModuleResolutionKind.NodeJs,
  esModuleInterop: true,
  skipLibCheck: true,
  noEmit: true,
  types: ["node"],
  lib: ["lib.es2022.d.ts", "lib.dom.d.ts"],
});

function virtualNotebook(nb) {
  let text = "";
  const offsets = new Map();
  nb.cells.forEach((cell, index) => {
    if (cell.cell_type !== "code") return;
    offsets.set(index, { start: text.length });
    text += sourceOf(cell);
    offsets.get(index).end = text.length;
    text += "\n;\n";
  });
  return { text, offsets };
}

/**
 * Types of the names the solution cells declare: Map<notebook key, Map<cell index, Map<name,
 * typeText>>>, plus `returns` for functions declared without a return type. Types print as the
 * notebook would write them (`fm.LinearGaussianFlow`, `number[]`); a type that cannot be named in
 * the notebook is left out.
 * @param {{ key: string, nb: object, cells: number[] }[]} entries
 */
function notebookProgram(entries, root = ROOT) {
  const files = new Map();
  entries.forEach((e, k) => {
    const v = virtualNotebook(e.nb);
    files.set(join(root, `.__assignment_types_${k}.ts`), { ...e, ...v });
  });
  const options = TYPE_OPTIONS();
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  const fileExists = host.fileExists.bind(host);
  const readFile = host.readFile.bind(host);
  host.getSourceFile = (f, lang, ...rest) =>
    files.has(f)
      ? ts.createSourceFile(f, files.get(f).text, lang, true)
      : getSourceFile(f, lang, ...rest);
  host.fileExists = (f) => files.has(f) || fileExists(f);
  host.readFile = (f) => (files.has(f) ? files.get(f).text : readFile(f));
  return { files, program: ts.createProgram([...files.keys()], options, host) };
}

/**
 * Type errors of notebooks' code cells, checked together as one module each (as tslab runs them, in
 * the course root `root`): Map<key, { cell: number (index), message: string }[]>.
 * @param {{ key: string, nb: object }[]} entries
 */
export function notebookTypeErrors(entries, root = ROOT) {
  const { files, program } = notebookProgram(entries, root);
  const out = new Map();
  for (const [file, e] of files) {
    const sf = program.getSourceFile(file);
    const errors = [];
    for (const d of [
      ...program.getSyntacticDiagnostics(sf),
      ...program.getSemanticDiagnostics(sf),
    ]) {
      const cell =
        [...e.offsets].find(([, r]) => d.start >= r.start && d.start <= r.end)?.[0] ?? null;
      errors.push({ cell, message: ts.flattenDiagnosticMessageText(d.messageText, "\n") });
    }
    out.set(e.key, errors);
  }
  return out;
}

/**
 * The grader's description of a type: what a value sent from a student's kernel must look like
 * (checked by scripts/grading/clean.cjs) and what inputs a function can be called with. { t:
 * "number" | "string" | "boolean" | "null" | "undefined" | "any" | "tensor" (rank) | "model" |
 * "typed" | "array" (of) | "tuple" (of) | "union" (of, text) | "function" (params [{ name,
 * optional, d }], returns) | "object" (props) }.
 */
export function describeType(checker, type, depth = 0, seen = new Set()) {
  const TF = ts.TypeFlags;
  const f = type.flags;
  if (depth > 5) return { t: "any" };
  if (f & (TF.Any | TF.Unknown | TF.Never | TF.TypeParameter)) return { t: "any" };
  if (f & TF.NumberLike) return { t: "number" };
  if (f & TF.StringLike) return { t: "string" };
  if (f & TF.BooleanLike) return { t: "boolean" };
  if (f & TF.Null) return { t: "null" };
  if (f & (TF.Undefined | TF.Void)) return { t: "undefined" };
  if (type.isUnion()) {
    const of = [];
    for (const member of type.types) {
      const d = describeType(checker, member, depth + 1, seen);
      if (!of.some((o) => JSON.stringify(o) === JSON.stringify(d))) of.push(d);
    }
    if (of.some((o) => o.t === "any")) return { t: "any" };
    return of.length === 1 ? of[0] : { t: "union", of, text: checker.typeToString(type) };
  }
  if (checker.isTupleType(type))
    return {
      t: "tuple",
      of: checker.getTypeArguments(type).map((a) => describeType(checker, a, depth + 1, seen)),
    };
  if (checker.isArrayType(type))
    return {
      t: "array",
      of: describeType(checker, checker.getTypeArguments(type)[0], depth + 1, seen),
    };
  const symbol = type.aliasSymbol ?? type.getSymbol();
  const name = type.getSymbol()?.getName() ?? "";
  const file = type.getSymbol()?.declarations?.[0]?.getSourceFile().fileName ?? "";
  const ranks = {
    Scalar: 0,
    Tensor1D: 1,
    Tensor2D: 2,
    Tensor3D: 3,
    Tensor4D: 4,
    Tensor5D: 5,
    Tensor6D: 6,
    Tensor: null,
    Variable: null,
  };
  if (/@tensorflow/.test(file) && name in ranks) return { t: "tensor", rank: ranks[name] };
  if (name === "VelocityModel" && /[\\/]src[\\/]model[\\/]/.test(file)) return { t: "model" };
  if (/^(Float32|Float64|Int8|Int16|Int32|Uint8|Uint16|Uint32|Uint8Clamped)Array$/.test(name))
    return { t: "typed" };
  const calls = type.getCallSignatures();
  if (calls.length) {
    const sig = calls[0];
    return {
      t: "function",
      params: sig.getParameters().map((p) => {
        const decl = p.valueDeclaration;
        return {
          name: p.getName(),
          optional: !!(decl && (decl.questionToken || decl.initializer || decl.dotDotDotToken)),
          d: decl
            ? describeType(checker, checker.getTypeOfSymbolAtLocation(p, decl), depth + 1, seen)
            : { t: "any" },
        };
      }),
      returns: describeType(checker, sig.getReturnType(), depth + 1, seen),
    };
  }
  if (type.getConstructSignatures().length)
    return { t: "function", params: [], returns: { t: "any" } };
  if (f & TF.Object && symbol) {
    if (seen.has(symbol)) return { t: "object", props: {} };
    const inner = new Set(seen).add(symbol);
    const props = {};
    for (const prop of checker.getPropertiesOfType(type).slice(0, 40)) {
      const decl = prop.valueDeclaration ?? prop.declarations?.[0];
      if (!decl) continue;
      props[prop.getName()] = {
        optional: !!(prop.flags & ts.SymbolFlags.Optional),
        d: describeType(checker, checker.getTypeOfSymbolAtLocation(prop, decl), depth + 1, inner),
      };
    }
    return { t: "object", props };
  }
  return { t: "any" };
}

export function inferTypes(entries) {
  const { files, program } = notebookProgram(entries);
  const checker = program.getTypeChecker();
  const flags =
    ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinitionFromCurrentScope;
  const nameable = (s) =>
    s && !/\bimport\(|\btypeof\b|__type|\bany\b.*\bany\b.*\bany\b/.test(s) && s !== "any";
  const result = new Map();
  for (const [file, e] of files) {
    const sf = program.getSourceFile(file);
    const perCell = new Map();
    result.set(e.key, perCell);
    for (const index of e.cells) {
      const range = e.offsets.get(index);
      const types = new Map();
      const returns = new Map();
      // For the grader: each name's descriptor and the type it is declared with in the clean
      // checker.
      const values = new Map();
      perCell.set(index, { types, returns, values });
      for (const st of sf.statements) {
        if (st.getStart(sf) < range.start || st.end > range.end + 1) continue;
        if (ts.isVariableStatement(st)) {
          const isConst = !!(st.declarationList.flags & ts.NodeFlags.Const);
          for (const d of st.declarationList.declarations) {
            const ids = [];
            const collect = (n) =>
              ts.isIdentifier(n)
                ? ids.push(n)
                : n.elements.forEach((el) => !ts.isOmittedExpression(el) && collect(el.name));
            collect(d.name);
            for (const id of ids) {
              let type = checker.getTypeAtLocation(id);
              if (isConst || !d.type) type = checker.getBaseTypeOfLiteralType(type);
              const text = checker.typeToString(type, st, flags);
              if (nameable(text)) types.set(id.text, text);
              values.set(id.text, {
                type: nameable(text) ? text : null,
                d: describeType(checker, type),
              });
            }
          }
        } else if (ts.isFunctionDeclaration(st) && st.name) {
          const sig = checker.getSignatureFromDeclaration(st);
          if (sig && !st.type) {
            const text = checker.typeToString(checker.getReturnTypeOfSignature(sig), st, flags);
            if (nameable(text)) returns.set(st.name.text, text);
          }
          const type = checker.getTypeAtLocation(st.name);
          const text = checker.typeToString(type, st, flags);
          values.set(st.name.text, {
            type: nameable(text) ? text : null,
            d: describeType(checker, type),
          });
        } else if (ts.isClassDeclaration(st) && st.name) {
          values.set(st.name.text, {
            type: null,
            d: { t: "function", params: [], returns: { t: "any" } },
          });
        }
      }
    }
  }
  return result;
}

// -------------------------------------------------------------------------------------------------
// Placeholders and the student version.

/**
 * The names a code solution must leave defined: read by later code (checks included) or named in
 * the task.
 */
export function keptNames(nb, ex, solutionIndex) {
  const declared = declaredNames(sourceOf(nb.cells[solutionIndex])).filter(
    (d) => d.kind !== "import",
  );
  const later = new Set();
  nb.cells.forEach((cell, index) => {
    if (index <= solutionIndex || cell.cell_type !== "code") return;
    for (const name of referencedNames(sourceOf(cell))) later.add(name);
  });
  const asked = backtickNames(ex.statement);
  const kept = declared.filter((d) => later.has(d.name) || asked.has(d.name));
  // The checks' names that the task does not name: the student could not guess them (reported to
  // the TA; the placeholder declares them, so the student copy says so).
  const checkNames = new Set();
  for (const c of ex.checks)
    for (const n of referencedNames(sourceOf(nb.cells[c]))) checkNames.add(n);
  const unstated = kept
    .filter((d) => checkNames.has(d.name) && !asked.has(d.name))
    .map((d) => d.name);
  return { declared, kept, unstated };
}

function indentOf(text) {
  return /^[ \t]*/.exec(text)[0];
}

/**
 * The TODO cell that stands for a code solution: its comment says what to do; each kept function
 * keeps its signature (body: throw TODO); each kept value is declared with its type as
 * `alias.todo(name, N)`.
 */
export function codePlaceholder({
  exercise,
  kept,
  types = new Map(),
  returns = new Map(),
  alias = "fm",
}) {
  const n = exercise.number;
  const lines = [
    `// TODO (exercise ${n}): write your solution in this cell (the task is in the cell above).`,
  ];
  const unique = [...new Map(kept.map((d) => [d.name, d])).values()];
  if (unique.length) {
    const what = unique.some((d) => d.kind === "function")
      ? "names and signatures"
      : "names and types";
    lines.push(
      `// Define ${unique.map((d) => d.name).join(", ")} (keep the ${what}: hidden checks and ` +
        `later cells read them).`,
    );
  } else {
    lines.push("// Nothing here is read by later cells: write and run whatever the task asks for.");
  }
  const todoValue = (name) =>
    alias
      ? `${alias}.todo(${JSON.stringify(name)}, ${n})`
      : `(() => { throw new Error(${JSON.stringify(`TODO (exercise ${n}): define ${name}`)}); })()`;
  const done = new Set();
  for (const d of unique) {
    if (done.has(d.name)) continue;
    done.add(d.name);
    const st = d.statement;
    if (d.kind === "function") {
      const sf = st.getSourceFile();
      const head = sf.text
        .slice(st.getStart(sf), st.body ? st.body.getStart(sf) : st.end)
        .trimEnd();
      const ret = !st.type && returns.get(d.name) ? `: ${returns.get(d.name)}` : "";
      const sig = head.replace(/^export\s+/, "") + ret;
      lines.push(
        `${sig} {`,
        `  throw new Error(${JSON.stringify(`TODO (exercise ${n}): implement ${d.name}`)});`,
        "}",
      );
    } else if (d.kind === "type") {
      lines.push(st.getText(st.getSourceFile()));
    } else if (d.kind === "class") {
      lines.push(
        `class ${d.name} {`,
        `  constructor(..._args: unknown[]) {`,
        `    throw new Error(${JSON.stringify(`TODO (exercise ${n}): implement ${d.name}`)});`,
        "  }",
        "}",
      );
    } else {
      const keyword = d.kind === "var" ? "let" : d.kind;
      const declaredType =
        d.declaration && ts.isIdentifier(d.declaration.name) && d.declaration.type
          ? d.declaration.type.getText(st.getSourceFile())
          : null;
      const type = declaredType ?? types.get(d.name) ?? null;
      lines.push(`${keyword} ${d.name}${type ? `: ${type}` : ": any"} = ${todoValue(d.name)};`);
    }
  }
  return lines.join("\n");
}

/** The markdown cell that stands for a written answer. */
export function markdownPlaceholder(exercise) {
  return (
    `**Your answer to exercise ${exercise.number}** (written; marked by hand). Replace this text ` +
    `with your derivation or explanation of what the exercise above ` +
    `asks${exercise.title ? ` (“${exercise.title}”)` : ""}: ` +
    "the steps, not only the result. Formulas in LaTeX between `$...$` or `$$...$$`."
  );
}

/** The note put before the first exercise of a student version. */
export const STUDENT_NOTE =
  "> **Assignment version.** The solutions and their checks are not in this copy. Write your " +
  "solution in " +
  "each cell marked `TODO (exercise N)` (keep the names and signatures it declares: hidden " +
  "checks read " +
  "them), and your written answers in the cells that ask for them. Until you replace it, a " +
  "placeholder fails with a `TODO` error when something uses it.";

let idCounter = 0;
function cellId(base, suffix) {
  return `${String(base ?? `cell${idCounter++}`).slice(0, 52)}-${suffix}`.replace(
    /[^A-Za-z0-9-_]/g,
    "-",
  );
}

function stripped(cell) {
  const out = { ...cell, metadata: { ...(cell.metadata ?? {}) } };
  if (cell.cell_type === "code") {
    out.outputs = [];
    out.execution_count = null;
  }
  delete out.metadata.execution;
  return out;
}

const sha256 = (text) => createHash("sha256").update(text).digest("hex");

/**
 * Builds a notebook's student version and grading manifest.
 * @param {string} path - the notebook (with solutions)
 * @param {{ types?: Map, points?: number, cellTimeout?: number, timeout?: number }} [options]
 *   types: inferTypes()'s entry for this notebook (computed here when absent)
 * @returns {{ student: object, manifest: object, warnings: string[] }}
 */
export function buildAssignment(path, options = {}) {
  const text = readFileSync(path, "utf8");
  const nb = JSON.parse(text);
  const name = basename(path);
  const { exercises, problems, warnings } = findExercises(nb);
  if (problems.length) throw new ExerciseTagError(name, problems);
  const alias = libraryAlias(nb);
  const codeSolutions = exercises.flatMap((ex) =>
    ex.solutions.filter((s) => s.type === "code").map((s) => s.index),
  );
  const typeInfo = options.types ?? inferTypes([{ key: name, nb, cells: codeSolutions }]).get(name);
  const allWarnings = warnings.map((w) => `${name}: ${w}`);
  const replaced = new Map(); // cell index -> replacement cell (null: removed)
  const manifestExercises = [];
  for (const ex of exercises) {
    const names = [];
    const values = {};
    const unstatedAll = [];
    for (const s of ex.solutions) {
      const cell = nb.cells[s.index];
      if (s.type === "markdown") {
        replaced.set(s.index, {
          cell_type: "markdown",
          id: cellId(cell.id, "answer"),
          metadata: { tags: ["answer"], exercise: ex.number },
          source: markdownPlaceholder(ex),
        });
        continue;
      }
      const { kept, unstated } = keptNames(nb, ex, s.index);
      const info = typeInfo?.get(s.index) ?? {
        types: new Map(),
        returns: new Map(),
        values: new Map(),
      };
      names.push(...kept.map((d) => d.name));
      for (const d of kept) {
        if (d.kind === "type") continue;
        const v = info.values?.get(d.name);
        values[d.name] = { kind: d.kind, type: v?.type ?? null, d: v?.d ?? { t: "any" } };
      }
      unstatedAll.push(...unstated);
      replaced.set(s.index, {
        cell_type: "code",
        id: cellId(cell.id, "todo"),
        metadata: { tags: ["answer"], exercise: ex.number },
        source: codePlaceholder({
          exercise: ex,
          kept,
          types: info.types,
          returns: info.returns,
          alias,
        }),
        outputs: [],
        execution_count: null,
      });
    }
    for (const c of ex.checks) replaced.set(c, null);
    const auto = ex.checks.length > 0;
    const written = ex.solutions.some((s) => s.type === "markdown");
    const exWarnings = [...new Set(unstatedAll)].map(
      (n) =>
        `exercise ${ex.number}: the hidden check reads \`${n}\`, which the task does not name ` +
        `(the TODO cell declares it, so the student sees it)`,
    );
    allWarnings.push(...exWarnings.map((w) => `${name}: ${w}`));
    manifestExercises.push({
      number: ex.number,
      title: ex.title,
      grading: auto ? (written ? "auto+written" : "auto") : "written",
      points: auto ? (options.points ?? 1) : 0,
      statement: ex.statement,
      names: [...new Set(names)],
      values,
      solutions: ex.solutions.map((s) => ({ type: s.type, source: sourceOf(nb.cells[s.index]) })),
      checks: ex.checks.map((c) => ({ source: sourceOf(nb.cells[c]), id: nb.cells[c].id ?? null })),
      warnings: exWarnings,
    });
  }
  const cells = [];
  const firstHeading = exercises
    .map((e) => e.heading)
    .filter((h) => h !== null)
    .sort((a, b) => a - b)[0];
  nb.cells.forEach((cell, index) => {
    if (index === firstHeading && exercises.length) {
      cells.push({
        cell_type: "markdown",
        id: cellId(nb.cells[index].id, "note"),
        metadata: { tags: ["assignment-note"] },
        source: STUDENT_NOTE,
      });
    }
    if (replaced.has(index)) {
      const r = replaced.get(index);
      if (r) cells.push(r);
      return;
    }
    cells.push(stripped(cell));
  });
  const student = {
    ...nb,
    cells,
    metadata: {
      ...nb.metadata,
      assignment: { source: name, exercises: exercises.map((e) => e.number) },
    },
  };
  // The whole notebook as the grader needs it: the TA's code cells (run as they are, in the
  // student's kernel and in the clean checker), where each exercise's solutions and checks sit, and
  // the id of each cell of the student version (to tell the student's own added cells from the
  // TA's).
  const layout = [];
  nb.cells.forEach((cell, index) => {
    const ex = exercises.find(
      (e) => e.solutions.some((s) => s.index === index) || e.checks.includes(index),
    );
    const role = ex
      ? isCheck(cell)
        ? "check"
        : cell.cell_type === "code"
          ? "solution"
          : "written"
      : cell.cell_type === "code"
        ? "code"
        : "markdown";
    const entry = {
      role,
      id: replaced.has(index) ? (replaced.get(index)?.id ?? null) : (cell.id ?? null),
    };
    if (ex) entry.exercise = ex.number;
    if (role === "code" || role === "solution") entry.source = sourceOf(cell);
    layout.push(entry);
  });
  const manifest = {
    format: MANIFEST_FORMAT,
    notebook: name,
    title: titleOf(nb, name),
    source: { sha256: sha256(text) },
    timeLimit: { notebook: options.timeout ?? 600, cell: options.cellTimeout ?? 180 },
    libraryAlias: alias,
    exercises: manifestExercises,
    layout,
    warnings: allWarnings,
  };
  return { student, manifest, warnings: allWarnings };
}

/** Serialises a notebook the way the course commits them (one-space indent, trailing newline). */
export function notebookText(nb) {
  return JSON.stringify(nb, null, 1) + "\n";
}

/**
 * Runs a script's `main(args)` when `metaUrl` is the file Node was started with (and does nothing
 * when the script is imported). `--help` (args.help from `parseArgs`) prints the script's header
 * comment, lines 2 to `helpEnd`; an error prints "<name>: <message>" and exits with `errorCode`.
 */
export function runAsCli(metaUrl, { name, helpEnd, errorCode }, parseArgs, main) {
  const file = fileURLToPath(metaUrl);
  if (!process.argv[1] || resolve(process.argv[1]) !== file) return;
  (async () => {
    const args = parseArgs(process.argv.slice(2));
    if (args.help) {
      console.log(
        readFileSync(file, "utf8")
          .split("\n")
          .slice(1, helpEnd)
          .map((l) => l.replace(/^\/\/ ?/, ""))
          .join("\n"),
      );
      return;
    }
    await main(args);
  })().then(
    () => process.exit(0),
    (err) => {
      console.error(`${name}: ${err instanceof Error ? err.message : err}`);
      process.exit(errorCode);
    },
  );
}
