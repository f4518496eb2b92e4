// The project's formatter (issue 16): prettier with .prettierrc.json (100 columns, double quotes,
// trailing commas, semicolons) over src/, tests/, bench/ and scripts/ (.ts .mjs .cjs .js) and over
// the code cells of notebooks/*.ipynb, each cell formatted as TypeScript (top-level await allowed).
//
// Prettier does not re-wrap comments, so after it a `//` comment that ends a long line of code
// moves to its own line above, and a comment paragraph (a run of `//` or ` * ` lines at one
// indentation) that still has a line over 100 characters is re-filled as one paragraph: words are
// never split (a URL stays whole), and lines that look like code, lists' first lines, tables and
// fenced blocks start paragraphs of their own. A long string or template literal that prettier
// leaves on a line over 100 characters is split at a space into `"first " +` / `"rest"` (never in
// an escape or a `${...}`, only where `+` cannot change the program; the value is checked equal).
// Whatever is still too long afterwards (a string with no space, a type, a comment after code) and
// every cell prettier cannot parse is reported, never skipped in silence: the exit code is then 1.
//
//   npm run format                    format every file in scope, in place
//   npm run format -- --check         list the files that would change (exit code 1 if any)
//   npm run format -- FILE...         only these files (notebooks included)
//   npm run format -- --code          every code file in scope, no notebook
//
// A notebook's JSON is otherwise unchanged: only the sources of code cells are rewritten, with the
// file's own indentation and key order. tests/format.test.ts holds the files listed in
// scripts/checked-notebooks.mjs (FORMATTED_FILES, or everything with FORMAT_EVERYTHING) to it.
import { readFileSync, readdirSync, statSync, writeFileSync } from "fs";
import { dirname, join, relative, resolve } from "path";
import { fileURLToPath, pathToFileURL } from "url";
import { createRequire } from "module";
import * as prettier from "prettier";

const ts = createRequire(import.meta.url)("typescript");

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");
export const MAX_LINE = 100;
/** Folders whose code files the formatter covers, and the extensions it formats there. */
export const CODE_DIRS = ["src", "tests", "bench", "scripts"];
export const CODE_EXTENSIONS = [".ts", ".mjs", ".cjs", ".js"];
/** Never formatted: deliberately odd inputs of tests, generated and installed files. */
const SKIP_DIRS = new Set(["node_modules", "fixtures", "build", ".git"]);

let configPromise;
/** The options of .prettierrc.json (read once). */
async function config() {
  configPromise ??= prettier
    .resolveConfig(join(ROOT, ".prettierrc.json"), { editorconfig: false })
    .then((c) => {
      if (!c) throw new Error(`no prettier configuration found at ${ROOT}/.prettierrc.json`);
      return c;
    });
  return configPromise;
}

/** Length of a line in Unicode code points ("ψ" is one). */
export const lineLength = (line) => [...line].length;

/** Every file the formatter covers, as paths relative to the course root, sorted. */
export function allFiles(root = ROOT) {
  const out = [];
  const walk = (dir) => {
    for (const name of readdirSync(join(root, dir)).sort()) {
      const rel = `${dir}/${name}`;
      if (statSync(join(root, rel)).isDirectory()) {
        if (!SKIP_DIRS.has(name)) walk(rel);
      } else if (CODE_EXTENSIONS.some((e) => name.endsWith(e))) out.push(rel);
    }
  };
  CODE_DIRS.forEach(walk);
  for (const name of readdirSync(join(root, "notebooks")).sort()) {
    if (name.endsWith(".ipynb")) out.push(`notebooks/${name}`);
  }
  return out.sort();
}

// ---- comment re-wrapping ----------------------------------------------------------------------

// A comment line: indentation, the marker ("//", "///", " *" of a block comment) and its text.
const COMMENT = /^(\s*)(\/\/\/?|\*(?!\/))( ?)(.*)$/;
// Text that must not be merged with its neighbours: list items, tables, fences, JSDoc tags,
// directives, rulers, and the ends of block comments.
const BULLET = /^([-*+]|\d+[.)])\s+/;
const KEEP = /^(\||```|~~~|@|eslint|prettier-ignore|#|=|-{3,}|<)/;

/** Splits `line` into comment parts, or undefined when it is not a plain comment line. */
function commentParts(line, inBlock) {
  const m = COMMENT.exec(line);
  if (!m) return undefined;
  const [, indent, marker, space, text] = m;
  if (marker === "*" && !inBlock) return undefined;
  if (marker !== "*" && inBlock) return undefined;
  const inner = /^ */.exec(text)[0].length;
  return { lead: `${indent}${marker}${space}`, inner, text: text.trimEnd(), indent, marker };
}

/**
 * Re-fills the comment paragraphs of `text` that have a line longer than `width`; every other line
 * is returned untouched. Words are never split, so a URL or a long identifier stays whole (and may
 * stay too long: the caller reports it).
 */
export function rewrapComments(text, width = MAX_LINE) {
  const lines = text.split("\n").flatMap((line) => {
    if (lineLength(line) <= width) return [line];
    // A ruler made of one repeated character is cut to the width.
    const ruler = /^(\s*\/\/ ?)([-=*#])\2+$/.exec(line);
    if (ruler) return [line.slice(0, width)];
    // A one-line doc comment that is too long becomes a block, re-filled below.
    const doc = /^(\s*)\/\*\*\s+(.*?)\s*\*\/$/.exec(line);
    if (doc && !doc[2].includes("*/") && !doc[2].includes("```")) {
      return [`${doc[1]}/**`, `${doc[1]} * ${doc[2]}`, `${doc[1]} */`];
    }
    return [line];
  });
  const out = [];
  let inBlock = false;
  let fenced = false;
  let i = 0;
  // The comment line that may join a paragraph, for each line (undefined for any other line).
  const parts = lines.map((line) => {
    const trimmed = line.trim();
    const p = commentParts(line, inBlock);
    if (!inBlock && trimmed.startsWith("/*") && !trimmed.includes("*/")) inBlock = true;
    else if (inBlock && trimmed.includes("*/")) inBlock = false;
    if (!p) return undefined;
    if (/^\s*(```|~~~)/.test(p.text)) {
      fenced = !fenced;
      return undefined;
    }
    if (fenced || p.text.trim() === "" || KEEP.test(p.text.trim())) return undefined;
    return p;
  });
  while (i < lines.length) {
    const p = parts[i];
    if (!p) {
      out.push(lines[i++]);
      continue;
    }
    // A paragraph: its first line, then lines with the same lead and the continuation indentation
    // (no bullet of their own, no deeper indentation as code examples have).
    const bullet = BULLET.exec(p.text.slice(p.inner));
    const cont = p.inner + (bullet ? bullet[0].length : 0);
    let j = i + 1;
    while (
      j < lines.length &&
      parts[j] &&
      parts[j].lead === p.lead &&
      parts[j].inner === cont &&
      !BULLET.test(parts[j].text.slice(cont))
    ) {
      j++;
    }
    // A line indented deeper than its paragraph's first line without a bullet is code: keep it.
    const para = lines.slice(i, j);
    if (!para.some((l) => lineLength(l) > width) || (p.inner > 0 && !bullet)) {
      out.push(...para);
      i = j;
      continue;
    }
    const words = para.flatMap((_, k) => parts[i + k].text.trim().split(/\s+/));
    const first = `${p.lead}${" ".repeat(p.inner)}`;
    const next = `${p.lead}${" ".repeat(cont)}`;
    let line = first;
    let fresh = true;
    for (const w of words) {
      if (!fresh && lineLength(line) + 1 + lineLength(w) > width) {
        out.push(line);
        line = next + w;
      } else line = fresh ? line + w : `${line} ${w}`;
      fresh = false;
    }
    out.push(line);
    i = j;
  }
  return out.join("\n");
}

// ---- comments after code ---------------------------------------------------------------------

// Comments that tools read where they stand: never moved.
const DIRECTIVE = /^\/\/\s*(@ts-|eslint|prettier-ignore|istanbul|c8 |v8 |#)/;

/**
 * Moves a `//` comment that ends a line of code over `width` characters onto a line of its own just
 * above, at the code's indentation. Comments are found by the TypeScript parser (the trailing
 * comments of syntax nodes), so `//` inside a string, template or regular expression is never
 * taken for one; a comment the walk does not find stays where it is (and is reported).
 */
export function moveTrailingComments(text, width = MAX_LINE) {
  const sf = ts.createSourceFile("cell.ts", text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const found = new Map();
  const visit = (node) => {
    for (const r of ts.getTrailingCommentRanges(text, node.end) ?? []) {
      if (r.kind === ts.SyntaxKind.SingleLineCommentTrivia) found.set(r.pos, r.end);
    }
    ts.forEachChild(node, visit);
  };
  ts.forEachChild(sf, visit);
  let out = text;
  for (const pos of [...found.keys()].sort((a, b) => b - a)) {
    const start = out.lastIndexOf("\n", pos - 1) + 1;
    const stop = out.indexOf("\n", pos) < 0 ? out.length : out.indexOf("\n", pos);
    const line = out.slice(start, stop);
    const code = out.slice(start, pos).trimEnd();
    const comment = out.slice(pos, found.get(pos)).trimEnd();
    if (lineLength(line) <= width || code.trim() === "" || found.get(pos) < stop) continue;
    if (DIRECTIVE.test(comment)) continue;
    const indent = /^\s*/.exec(line)[0];
    out = `${out.slice(0, start)}${indent}${comment}\n${code}${out.slice(stop)}`;
  }
  return out;
}

// ---- long strings ----------------------------------------------------------------------------

// Where a long string literal may stand and be replaced by `"first " + "rest"` without parentheses
// and without changing what the program does: an argument, an initializer, an element, a returned
// or thrown value, a branch of `?:`, an operand of `+` (string concatenation is associative here:
// `a + "x y"` and `(a + "x ") + "y"` are the same string for any a), the right side of `=`, `+=`.
// Everywhere else (types, property names, imports, directives, `as const`, member access, tagged
// templates) it is left.
const SPLIT_PARENTS = new Set(
  [
    "CallExpression",
    "NewExpression",
    "VariableDeclaration",
    "PropertyAssignment",
    "ArrayLiteralExpression",
    "ReturnStatement",
    "ThrowStatement",
    "ConditionalExpression",
    "ArrowFunction",
    "Parameter",
    "ParenthesizedExpression",
    "TemplateSpan",
    "BinaryExpression",
  ].map((k) => ts.SyntaxKind[k]),
);
/** Literals shorter than this are never split (the line is too long for another reason). */
const SPLIT_MIN = 20;

const isLiteral = (n) =>
  ts.isStringLiteral(n) || ts.isNoSubstitutionTemplateLiteral(n) || ts.isTemplateExpression(n);

/** Whether `node`, a string or template literal, may be replaced by a concatenation. */
function splittable(node) {
  const p = node.parent;
  if (!p || !SPLIT_PARENTS.has(p.kind)) return false;
  if (ts.isBinaryExpression(p)) {
    const op = p.operatorToken.kind;
    const assign = [ts.SyntaxKind.EqualsToken, ts.SyntaxKind.PlusEqualsToken].includes(op);
    return op === ts.SyntaxKind.PlusToken || (assign && p.right === node);
  }
  if (ts.isCallExpression(p) || ts.isNewExpression(p)) return p.expression !== node;
  if (ts.isVariableDeclaration(p) || ts.isParameter(p)) return p.initializer === node;
  if (ts.isPropertyAssignment(p)) return p.initializer === node;
  if (ts.isConditionalExpression(p)) return p.condition !== node;
  if (ts.isArrowFunction(p)) return p.body === node;
  return true;
}

/**
 * The value of a literal as a string in which every `${expression}` stands as its source text
 * between NUL characters: two literals (or concatenations) with equal values have equal keys.
 */
function valueKey(node, sf) {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  const spans = node.templateSpans.map((s) => `\0${s.expression.getText(sf)}\0${s.literal.text}`);
  return node.head.text + spans.join("");
}

/** Parses `text` as one literal expression; undefined when it is anything else or has errors. */
function parseLiteral(text) {
  const sf = ts.createSourceFile("piece.ts", `(${text});`, ts.ScriptTarget.Latest, true);
  if (sf.parseDiagnostics?.length || sf.statements.length !== 1) return undefined;
  const st = sf.statements[0];
  const inner = ts.isExpressionStatement(st) && st.expression.expression;
  if (!inner || !isLiteral(inner) || inner.getText(sf) !== text) return undefined;
  return { node: inner, sf };
}

/**
 * Splits the literal source `text` (quotes or backticks included) at offset `at` into two literals
 * whose concatenation has the same value. Returns [first, rest], or undefined when that split
 * would change the value or not parse (inside an escape, inside a `${...}`, at either end).
 */
export function splitLiteral(text, at) {
  const whole = parseLiteral(text);
  if (!whole || at <= 1 || at >= text.length - 1) return undefined;
  const q = text[0];
  const first = parseLiteral(`${text.slice(0, at)}${q}`);
  const rest = parseLiteral(`${q}${text.slice(at)}`);
  if (!first || !rest) return undefined;
  const key = (p) => valueKey(p.node, p.sf);
  if (key(first) + key(rest) !== key(whole)) return undefined;
  return [first.node.getText(first.sf), rest.node.getText(rest.sf)];
}

/**
 * The offsets in a literal's source text just after a space that stands in its literal text
 * (outside every escape sequence and every `${...}`), not at its start, and just after each `}`
 * that closes a `${...}`. `parts` are the
 * [start, end) ranges of the literal text (between the quotes, or between backtick, `}` and `${`).
 */
function spaceOffsets(text, parts) {
  const out = [];
  for (const [start, end] of parts) {
    // just after a `}`: `${a}${b}` becomes `${a}` + `${b}`
    if (text[start - 1] === "}") out.push(start);
    for (let i = start; i < end; i++) {
      if (text[i] === "\\") {
        // skip the escape: \u{...}, \uXXXX, \xXX, or one character
        if (text[i + 1] === "u" && text[i + 2] === "{") i = text.indexOf("}", i);
        else i += text[i + 1] === "u" ? 5 : text[i + 1] === "x" ? 3 : 1;
      } else if (text[i] === " " && text.slice(1, i).trim() !== "") out.push(i + 1);
    }
  }
  return out;
}

/** The [start, end) ranges (offsets in the literal's text) of a literal's literal text. */
function literalParts(node, sf) {
  const s0 = node.getStart(sf);
  if (!ts.isTemplateExpression(node)) return [[1, node.getEnd() - s0 - 1]];
  const pieces = [node.head, ...node.templateSpans.map((s) => s.literal)];
  return pieces.map((p) => {
    const a = p.getStart(sf) - s0;
    const b = p.getEnd() - s0;
    return [a + 1, ts.isTemplateTail(p) ? b - 1 : b - 2];
  });
}

const isPlus = (n) =>
  n && ts.isBinaryExpression(n) && n.operatorToken.kind === ts.SyntaxKind.PlusToken;

/**
 * When `node` is followed in a `+` chain by a literal of the same kind on a line that can take
 * `rest` (the end split off `node`) in front, the edit that writes `rest` into that literal;
 * otherwise undefined. The joined literal is checked to have the value of `rest` then the old one.
 */
function joinNext(node, rest, sf, lines, width) {
  const p = node.parent;
  let next;
  if (isPlus(p) && p.left === node) next = p.right;
  else if (isPlus(p) && isPlus(p.parent) && p.parent.left === p) next = p.parent.right;
  if (!next || !isLiteral(next)) return undefined;
  const old = next.getText(sf);
  if (old[0] !== rest[0]) return undefined;
  const text = rest.slice(0, -1) + old.slice(1);
  const { line } = sf.getLineAndCharacterOfPosition(next.getStart(sf));
  if (lineLength(lines[line]) + lineLength(rest) - 2 > width) return undefined;
  const a = parseLiteral(rest);
  const b = parseLiteral(old);
  const joined = parseLiteral(text);
  if (!a || !b || !joined) return undefined;
  const key = (x) => valueKey(x.node, x.sf);
  if (key(joined) !== key(a) + key(b)) return undefined;
  return { start: next.getStart(sf), end: next.getEnd(), with: text };
}

/**
 * One pass: on each line over `width`, the longest string or template literal that may be split
 * (see splittable) is split once at a space, so that its first part ends the line in time when it
 * can. Prettier lays the concatenation out afterwards; formatCode repeats until nothing changes.
 */
export function splitLongStrings(text, width = MAX_LINE) {
  const lines = text.split("\n");
  if (!lines.some((l) => lineLength(l) > width)) return text;
  const sf = ts.createSourceFile("x.ts", text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const best = new Map();
  const visit = (node) => {
    if (isLiteral(node)) {
      const start = node.getStart(sf);
      const { line, character } = sf.getLineAndCharacterOfPosition(start);
      const sameLine = sf.getLineAndCharacterOfPosition(node.getEnd()).line === line;
      const len = node.getEnd() - start;
      const old = best.get(line);
      if (sameLine && len >= SPLIT_MIN && lineLength(lines[line]) > width && splittable(node)) {
        if (!old || len > old.len) best.set(line, { node, start, len, character, line });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(sf);
  const edits = [];
  for (const { node, start, character, line } of best.values()) {
    const lit = node.getText(sf);
    const column = lineLength(lines[line].slice(0, character));
    const indent = /^\s*/.exec(lines[line])[0].length;
    const offsets = spaceOffsets(lit, literalParts(node, sf));
    // the first part ends the line with " +": where it stands now, or on a line of its own
    const fits = (at, col) => col + lineLength(lit.slice(0, at)) + 3 <= width;
    const here = offsets.filter((at) => fits(at, column));
    const own = offsets.filter((at) => fits(at, indent + 4));
    const tries = [here.at(-1), own.at(-1), offsets[0]].filter((a) => a !== undefined);
    for (const at of tries) {
      const pieces = splitLiteral(lit, at);
      if (!pieces) continue;
      // In a chain "a" + "b", the rest joins the next literal when that line still fits.
      const joined = joinNext(node, pieces[1], sf, lines, width);
      const end = node.getEnd();
      if (joined) edits.push([{ start, end, with: pieces[0] }, joined]);
      else edits.push([{ start, end, with: `${pieces[0]} + ${pieces[1]}` }]);
      break;
    }
  }
  let out = text;
  // a group of edits that overlaps one kept already waits for the next pass
  const kept = [];
  const overlaps = (e) => kept.some((k) => k.start < e.end && e.start < k.end);
  for (const group of edits) if (!group.some(overlaps)) kept.push(...group);
  for (const e of kept.sort((a, b) => b.start - a.start)) {
    out = out.slice(0, e.start) + e.with + out.slice(e.end);
  }
  return out;
}

// ---- formatting ------------------------------------------------------------------------------

/** Formats TypeScript/JavaScript source as a file at `path` (its extension picks the parser). */
async function formatCode(text, path) {
  const opts = { ...(await config()), filepath: path };
  let out = await prettier.format(text, opts);
  const moved = moveTrailingComments(out);
  // the code line got shorter: let prettier lay it out again
  if (moved !== out) out = await prettier.format(moved, opts);
  // long strings: split one at a time on each long line, and let prettier lay the parts out
  for (let pass = 0; pass < 10; pass++) {
    const split = splitLongStrings(out);
    if (split === out) break;
    out = await prettier.format(split, opts);
  }
  return rewrapComments(out);
}

/** The lines of `text` over MAX_LINE characters, as "where line N: L characters". */
export function longLines(text, where = "") {
  return text
    .split("\n")
    .map((l, k) => ({ n: lineLength(l), k }))
    .filter((l) => l.n > MAX_LINE)
    .map((l) => `${where}line ${l.k + 1}: ${l.n} characters`);
}

/** The indentation of a JSON text written with JSON.stringify-like layout (1 for nbformat). */
function jsonIndent(text) {
  const m = /^\{\n( +)"/.exec(text);
  return m ? m[1].length : undefined;
}

/**
 * Formats the code cells of a notebook. Returns the new JSON text (the old one when no cell
 * changes) and the problems: cells prettier cannot parse (left as they are) and lines still over
 * MAX_LINE.
 */
async function formatNotebook(text, path) {
  const indent = jsonIndent(text);
  const nb = JSON.parse(text);
  const layout = (v) => `${JSON.stringify(v, null, indent)}\n`;
  if (indent === undefined || layout(nb) !== text) {
    return {
      formatted: text,
      problems: [`${path}: its JSON layout is not the one this script writes back; not formatted`],
    };
  }
  const problems = [];
  let k = 0;
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code") continue;
    k++;
    const where = `${path}: code cell ${k}, `;
    const source = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
    if (source.trim() === "") continue;
    let out;
    try {
      // A virtual .mts file: TypeScript where top-level await is legal.
      out = (await formatCode(source, "cell.mts")).replace(/\n+$/, "");
    } catch (e) {
      problems.push(`${where}prettier cannot parse it: ${String(e.message).split("\n")[0]}`);
      continue;
    }
    problems.push(...longLines(out, where));
    if (out !== source) {
      const lines = out.split("\n").map((l, n, all) => (n < all.length - 1 ? `${l}\n` : l));
      cell.source = Array.isArray(cell.source) ? lines : out;
    }
  }
  return { formatted: layout(nb), problems };
}

/**
 * Formats one file's text as the formatter would. `path` (relative or absolute) picks the kind:
 * notebooks have their code cells formatted, code files are formatted whole.
 * Returns { formatted, problems } where problems lists parse failures and lines still too long.
 */
export async function formatText(text, path) {
  if (path.endsWith(".ipynb")) return formatNotebook(text, path);
  let formatted;
  try {
    formatted = await formatCode(text, path);
  } catch (e) {
    return {
      formatted: text,
      problems: [`${path}: prettier cannot parse it: ${String(e.message).split("\n")[0]}`],
    };
  }
  return { formatted, problems: longLines(formatted, `${path}: `) };
}

/** Formats (or with check, only compares) files; returns the changed files and the problems. */
export async function formatFiles(files, { check = false, root = ROOT } = {}) {
  const changed = [];
  const problems = [];
  for (const file of files) {
    const abs = resolve(root, file);
    const rel = relative(root, abs);
    const text = readFileSync(abs, "utf8");
    const r = await formatText(text, rel);
    problems.push(...r.problems);
    if (r.formatted !== text) {
      changed.push(rel);
      if (!check) writeFileSync(abs, r.formatted);
    }
  }
  return { changed, problems };
}

async function main(argv) {
  const check = argv.includes("--check");
  const unknown = argv.filter((a) => a.startsWith("-") && !["--check", "--code"].includes(a));
  if (unknown.length) {
    const usage = "npm run format -- [--check] [--code] [FILE...]";
    console.error(`unknown option ${unknown.join(", ")}; usage: ${usage}`);
    return 2;
  }
  const named = argv.filter((a) => !a.startsWith("-"));
  const code = argv.includes("--code");
  const files = named.length ? named : allFiles().filter((f) => !code || !f.endsWith(".ipynb"));
  const started = Date.now();
  const { changed, problems } = await formatFiles(files, { check });
  const seconds = ((Date.now() - started) / 1000).toFixed(1);
  for (const f of changed) console.log(check ? `would change: ${f}` : `formatted: ${f}`);
  for (const p of problems) console.log(`problem: ${p}`);
  const verb = check ? "would change" : "changed";
  console.log(
    `${files.length} files checked in ${seconds} s; ${changed.length} ${verb}; ` +
      `${problems.length} problems (lines over ${MAX_LINE} characters, cells it cannot parse)`,
  );
  return (check && changed.length) || problems.length ? 1 : 0;
}

if (process.argv[1] && pathToFileURL(resolve(process.argv[1])).href === import.meta.url) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (e) => {
      console.error(e);
      process.exit(2);
    },
  );
}
