#!/usr/bin/env node
// Reading time of the course's notebooks (issue 16): prose words / 200 + code lines / 10 minutes.
//
//   npm run reading-time                          the table for every notebook
//   npm run reading-time -- --check [notebooks]   fail when a stated reading time is wrong or a
//     main path
//                                                 is over 30 minutes (default: the checked
//                                                   notebooks)
//   npm run reading-time -- --fix notebooks/...   write the computed main-path minutes into the
//     title cell
//   npm run reading-time -- --markdown            the table as Markdown (for the README)
//
// The parts of a notebook: the main path is every cell before the first markdown cell that opens
// with "## Exercises" or "## Appendix"; the exercises run from "## Exercises" to "## Appendix" (or
// the end); the appendix is everything from "## Appendix" on. Only the main path counts against the
// target.
//
// What is counted (countWords, countCodeLines):
// - a word is a run of non-blank characters that holds at least one letter or digit, in a markdown
//   cell, after removing HTML comments and tags, link targets and bare URLs, and LaTeX control
//   sequences (\frac, \mathrm, \,): prose, headings, table cells, inline code and the symbols of a
//   formula are all read, so they all count ("$x_t = t x_1$" is the 3 words $x_t, t, x_1$; a table
//   row "| a | 0.5 |" is 2; "|---|" and "=" are none);
// - a code line is a line of a code cell that is not blank (comments and closing braces count).
// minutes = words / 200 + code lines / 10. The stated time must equal the main path's minutes
// rounded to the nearest whole minute (halves round up), written in the title cell as "**Reading
// time**: main path about N minutes" (optionally "; exercises about M minutes", checked too).
import { readFileSync, writeFileSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { listNotebooks, notebookText, readNotebook, runAsCli, sourceOf } from "./exercises.mjs";
import { CHECKED_NOTEBOOKS } from "./checked-notebooks.mjs";

export const WORDS_PER_MINUTE = 200;
export const LINES_PER_MINUTE = 10;
/** The longest main path allowed, in minutes. */
export const MAX_MAIN_MINUTES = 30;

/** The statement in the title cell: "main path about N minutes" (N is group 1). */
export const STATED_MAIN = /main path about (\d+) minutes?/i;
/** Optional: "exercises about M minutes" (M is group 1). */
export const STATED_EXERCISES = /exercises about (\d+) minutes?/i;

/** The text a reader reads in a markdown source, with markup that is not read removed. */
function readableText(markdown) {
  return markdown
    .replace(/<!--[\s\S]*?-->/g, " ")
    .replace(/<\/?[A-Za-z][^>]*>/g, " ")
    .replace(/\]\([^)]*\)/g, "] ")
    .replace(/\bhttps?:\/\/\S+/g, " ")
    .replace(/\\[A-Za-z]+|\\[^A-Za-z\s]/g, " ")
    .replace(/\|/g, " ");
}

/** Words of a markdown source (see the header for the rule). */
export function countWords(markdown) {
  return readableText(markdown)
    .split(/\s+/)
    .filter((w) => /[\p{L}\p{N}]/u.test(w)).length;
}

/** Non-blank lines of a code source. */
export function countCodeLines(code) {
  return code.split("\n").filter((l) => l.trim() !== "").length;
}

const opens = (cell, heading) =>
  cell.cell_type === "markdown" &&
  new RegExp(`^##\\s+${heading}\\b`).test(sourceOf(cell).trimStart());

/**
 * Index ranges of the three parts: main [0, exercises), exercises [exercises, appendix), appendix.
 */
export function notebookParts(nb) {
  const n = nb.cells.length;
  let appendix = nb.cells.findIndex((c) => opens(c, "Appendix"));
  if (appendix < 0) appendix = n;
  let exercises = nb.cells.findIndex((c) => opens(c, "Exercises"));
  if (exercises < 0 || exercises > appendix) exercises = appendix;
  return { main: [0, exercises], exercises: [exercises, appendix], appendix: [appendix, n] };
}

function tally(cells) {
  let words = 0;
  let lines = 0;
  for (const c of cells) {
    if (c.cell_type === "markdown") words += countWords(sourceOf(c));
    else if (c.cell_type === "code") lines += countCodeLines(sourceOf(c));
  }
  return { words, lines, minutes: words / WORDS_PER_MINUTE + lines / LINES_PER_MINUTE };
}

/**
 * The reading time stated in the notebook's title cell (its first markdown cell), or null parts.
 */
export function statedTime(nb) {
  const title = nb.cells.find((c) => c.cell_type === "markdown");
  const text = title ? sourceOf(title) : "";
  const main = STATED_MAIN.exec(text);
  const ex = STATED_EXERCISES.exec(text);
  return { main: main ? Number(main[1]) : null, exercises: ex ? Number(ex[1]) : null };
}

/**
 * The reading time of a notebook (an object or a path): words, code lines and minutes of each part,
 * and what its title cell states.
 */
export function readingTime(notebook) {
  const nb = typeof notebook === "string" ? readNotebook(notebook) : notebook;
  const parts = notebookParts(nb);
  const part = ([a, b]) => tally(nb.cells.slice(a, b));
  return {
    main: part(parts.main),
    exercises: part(parts.exercises),
    appendix: part(parts.appendix),
    stated: statedTime(nb),
  };
}

/** Whole minutes as the title cell states them: the nearest whole minute, halves up. */
export const roundMinutes = (minutes) => Math.floor(minutes + 0.5);

/** What is wrong with a notebook's reading time (empty when nothing is). */
export function readingTimeProblems(notebook, { maxMinutes = MAX_MAIN_MINUTES } = {}) {
  const t = readingTime(notebook);
  const problems = [];
  const main = roundMinutes(t.main.minutes);
  if (t.stated.main === null) {
    problems.push(
      `the title cell states no reading time ("**Reading time**: main path about ${main} minutes")`,
    );
  } else if (t.stated.main !== main) {
    problems.push(
      `the title cell states a main path of ${t.stated.main} minutes; it is ` +
        `${t.main.minutes.toFixed(2)} ` +
        `(${t.main.words} words, ${t.main.lines} code lines), i.e. ${main}`,
    );
  }
  if (t.stated.exercises !== null && t.stated.exercises !== roundMinutes(t.exercises.minutes)) {
    problems.push(
      `the title cell states exercises of ${t.stated.exercises} minutes; they are ` +
        `${t.exercises.minutes.toFixed(2)}, i.e. ${roundMinutes(t.exercises.minutes)}`,
    );
  }
  if (t.main.minutes > maxMinutes) {
    problems.push(
      `the main path takes ${t.main.minutes.toFixed(1)} minutes, over the ${maxMinutes}-minute ` +
        `target`,
    );
  }
  return problems;
}

/** Rewrites the stated main-path minutes (and exercise minutes, where stated) in the title cell. */
export function fixStatedTime(nb) {
  const t = readingTime(nb);
  const title = nb.cells.find((c) => c.cell_type === "markdown");
  if (!title || t.stated.main === null) {
    throw new Error('the title cell has no "main path about N minutes" to update; write it first');
  }
  let text = sourceOf(title).replace(
    STATED_MAIN,
    `main path about ${roundMinutes(t.main.minutes)} minutes`,
  );
  if (t.stated.exercises !== null) {
    text = text.replace(
      STATED_EXERCISES,
      `exercises about ${roundMinutes(t.exercises.minutes)} minutes`,
    );
  }
  title.source = text.split(/(?<=\n)/);
  return nb;
}

/** The table of every notebook given: one row per notebook. */
export function readingTable(paths, { markdown = false } = {}) {
  const rows = paths.map((p) => ({ name: basename(p), ...readingTime(p) }));
  const fmt = (m) => m.toFixed(1);
  if (markdown) {
    const head =
      "| notebook | prose words | code lines | main path (min) | exercises (min) | appendix " +
      "(min) |";
    const lines = rows.map(
      (r) =>
        `| ${r.name.replace(/\.ipynb$/, "")} | ${r.main.words} | ${r.main.lines} | ` +
        `${fmt(r.main.minutes)} | ` +
        `${fmt(r.exercises.minutes)} | ${fmt(r.appendix.minutes)} |`,
    );
    return [head, "|---|---:|---:|---:|---:|---:|", ...lines].join("\n");
  }
  const out = [
    "notebook                          words  lines   main  exercises  appendix  stated",
  ];
  for (const r of rows) {
    out.push(
      `${r.name.padEnd(32)} ${String(r.main.words).padStart(6)} ` +
        `${String(r.main.lines).padStart(6)} ` +
        `${fmt(r.main.minutes).padStart(6)} ${fmt(r.exercises.minutes).padStart(10)} ` +
        `${fmt(r.appendix.minutes).padStart(9)}  ${r.stated.main ?? "-"}`,
    );
  }
  out.push(
    `(main: minutes of the main path = words / ${WORDS_PER_MINUTE} + code lines / ` +
      `${LINES_PER_MINUTE})`,
  );
  return out.join("\n");
}

function parseArgs(argv) {
  const args = { mode: "table", notebooks: [] };
  for (const a of argv) {
    if (a === "--check") args.mode = "check";
    else if (a === "--fix") args.mode = "fix";
    else if (a === "--markdown") args.mode = "markdown";
    else if (a === "-h" || a === "--help") args.help = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a} (try --help)`);
    else args.notebooks.push(resolve(a));
  }
  return args;
}

function main(args) {
  const checked = CHECKED_NOTEBOOKS.map((n) => join(resolve("notebooks"), n));
  if (args.mode === "check") {
    const paths = args.notebooks.length ? args.notebooks : checked;
    let bad = 0;
    for (const p of paths) {
      const problems = readingTimeProblems(p);
      if (problems.length) bad++;
      for (const q of problems) console.log(`${basename(p)}: ${q}`);
    }
    const summary =
      `${paths.length - bad} of ${paths.length} notebook(s) pass the reading-time ` + `check`;
    if (bad) throw new Error(summary);
    console.log(summary);
    return 0;
  }
  if (args.mode === "fix") {
    if (!args.notebooks.length) throw new Error("--fix needs the notebooks to update");
    for (const p of args.notebooks) {
      writeFileSync(p, notebookText(fixStatedTime(JSON.parse(readFileSync(p, "utf8")))));
      console.log(`${basename(p)}: main path about ${statedTime(readNotebook(p)).main} minutes`);
    }
    return 0;
  }
  const paths = args.notebooks.length ? args.notebooks : listNotebooks();
  console.log(readingTable(paths, { markdown: args.mode === "markdown" }));
  return 0;
}

runAsCli(import.meta.url, { name: "reading-time", helpEnd: 8, errorCode: 1 }, parseArgs, main);
