// The project's formatter (issue 16): prettier with .prettierrc.json (100 columns, double quotes,
// trailing commas, semicolons) over src/, tests/, bench/ and scripts/ (.ts .mjs .cjs .js) and over
// the code cells of notebooks/*.ipynb, each cell formatted as TypeScript (top-level await allowed).
//
// Prettier does not re-wrap comments, so after it a `//` comment that ends a long line of code
// moves to its own line above, and a comment paragraph (a run of `//` or ` * ` lines at one
// indentation) that still has a line over 100 characters is re-filled as one paragraph: words are
// never split (a URL stays whole), and lines that look like code, lists' first lines, tables and
// fenced blocks start paragraphs of their own. Whatever is still too long afterwards (a long
// string, a comment after code) and every cell prettier cannot parse is reported, never skipped in
// silence: the exit code is then 1.
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

// ---- formatting ------------------------------------------------------------------------------

/** Formats TypeScript/JavaScript source as a file at `path` (its extension picks the parser). */
async function formatCode(text, path) {
  const opts = { ...(await config()), filepath: path };
  let out = await prettier.format(text, opts);
  const moved = moveTrailingComments(out);
  // the code line got shorter: let prettier lay it out again
  if (moved !== out) out = await prettier.format(moved, opts);
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
