#!/usr/bin/env node
// A notebook's appendix: the markdown cell that opens with "## Appendix" and every cell after it,
// each tagged `appendix`, collapsed by default wherever the notebook is opened.
//
//   npm run appendix -- notebooks/01-trajectory-and-flow.ipynb   tag and collapse the appendix
//     cells
//   npm run appendix -- --check [notebooks]                       report untagged or uncollapsed
//     cells
//
// The metadata written (appendixMetadata), and which front end reads which key:
// - the "## Appendix" cell: "jp-MarkdownHeadingCollapsed": true (JupyterLab and Notebook 7 fold the
//   whole section under the heading) and "heading_collapsed": true (classic Notebook's
//   collapsible_headings extension, when installed);
// - every later cell: "jupyter": { "source_hidden": true } (JupyterLab shows a one-line
//   placeholder), and for code cells also "outputs_hidden": true and "collapsed": true (classic
//   Notebook 6.4 reads only "collapsed", which folds the outputs; it shows the sources and the
//   markdown).
// The course build checks every notebook (scripts/notebooks.mjs) and its HTML pages put the
// appendix in a closed <details> element (scripts/run_notebook.py).
import { readFileSync, writeFileSync } from "node:fs";
import { basename, resolve } from "node:path";
import { listNotebooks, notebookText, runAsCli, sourceOf } from "./exercises.mjs";

export const APPENDIX_TAG = "appendix";
export const APPENDIX_HEADING = /^## Appendix\b/;

const tagsOf = (cell) => (Array.isArray(cell.metadata?.tags) ? cell.metadata.tags : []);

/** Index of the "## Appendix" cell (the first markdown cell whose source starts with it), or -1. */
export function appendixStart(nb) {
  return nb.cells.findIndex(
    (c) => c.cell_type === "markdown" && APPENDIX_HEADING.test(sourceOf(c)),
  );
}

/** The collapse metadata an appendix cell carries: the heading folds its section; others fold. */
export function appendixMetadata(cell, isHeading) {
  if (isHeading) return { "jp-MarkdownHeadingCollapsed": true, heading_collapsed: true };
  if (cell.cell_type === "code")
    return { collapsed: true, jupyter: { source_hidden: true, outputs_hidden: true } };
  return { jupyter: { source_hidden: true } };
}

function hasMetadata(cell, wanted) {
  const m = cell.metadata ?? {};
  return Object.entries(wanted).every(([k, v]) =>
    typeof v === "object" ? Object.entries(v).every(([kk, vv]) => m[k]?.[kk] === vv) : m[k] === v,
  );
}

const describe = (nb, i) =>
  `cell ${i + 1} (${JSON.stringify(sourceOf(nb.cells[i]).trim().split("\n")[0].slice(0, 40))})`;

/** What is wrong with a notebook's appendix (empty when nothing is). */
export function appendixProblems(nb) {
  const start = appendixStart(nb);
  const problems = [];
  nb.cells.forEach((cell, i) => {
    const tagged = tagsOf(cell).includes(APPENDIX_TAG);
    if (start < 0 || i < start) {
      if (tagged)
        problems.push(
          `${describe(nb, i)} is tagged "${APPENDIX_TAG}" but comes before any "## Appendix" cell`,
        );
      return;
    }
    if (!tagged)
      problems.push(`${describe(nb, i)} is in the appendix but not tagged "${APPENDIX_TAG}"`);
    else if (!hasMetadata(cell, appendixMetadata(cell, i === start))) {
      problems.push(`${describe(nb, i)} is in the appendix but not collapsed`);
    }
  });
  if (
    nb.cells.filter((c) => c.cell_type === "markdown" && APPENDIX_HEADING.test(sourceOf(c)))
      .length > 1
  ) {
    problems.push('more than one cell opens with "## Appendix"');
  }
  return problems;
}

/** Tags every cell from "## Appendix" on and sets its collapse metadata (in place); returns nb. */
export function applyAppendix(nb) {
  const start = appendixStart(nb);
  if (start < 0) return nb;
  nb.cells.forEach((cell, i) => {
    if (i < start) return;
    const meta = (cell.metadata ??= {});
    if (!tagsOf(cell).includes(APPENDIX_TAG)) meta.tags = [...tagsOf(cell), APPENDIX_TAG];
    for (const [k, v] of Object.entries(appendixMetadata(cell, i === start))) {
      meta[k] = typeof v === "object" ? { ...(meta[k] ?? {}), ...v } : v;
    }
  });
  return nb;
}

/** A hint that says how to fix a notebook's appendix. */
export const fixHint = (path) => `run: npm run appendix -- ${path}`;

function parseArgs(argv) {
  const args = { check: false, notebooks: [] };
  for (const a of argv) {
    if (a === "--check") args.check = true;
    else if (a === "-h" || a === "--help") args.help = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a} (try --help)`);
    else args.notebooks.push(resolve(a));
  }
  if (!args.help && !args.check && !args.notebooks.length)
    throw new Error("name the notebooks to update");
  return args;
}

function main(args) {
  const paths = args.notebooks.length ? args.notebooks : listNotebooks();
  let bad = 0;
  for (const path of paths) {
    const nb = JSON.parse(readFileSync(path, "utf8"));
    if (args.check) {
      const problems = appendixProblems(nb);
      for (const p of problems) console.log(`${basename(path)}: ${p}`);
      if (problems.length) bad++;
      continue;
    }
    const before = notebookText(nb);
    const after = notebookText(applyAppendix(nb));
    if (after !== before) writeFileSync(path, after);
    const start = appendixStart(nb);
    console.log(
      `${basename(path)}: ` +
        `${start < 0 ? "no appendix" : `appendix of ${nb.cells.length - start} cell(s)`}` +
        `${after !== before ? " (updated)" : ""}`,
    );
  }
  if (bad)
    throw new Error(`${bad} notebook(s) have appendix cells that are not tagged or not collapsed`);
}

runAsCli(import.meta.url, { name: "appendix", helpEnd: 5, errorCode: 1 }, parseArgs, main);
