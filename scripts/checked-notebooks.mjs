// The one list of what is held to the new bar of issue 16 (reading time, quoted numbers,
// 100-character lines). A notebook joins when it has been rewritten to pass; the lead flips the
// checks on for the whole tree at the end. Used by scripts/reading-time.mjs,
// scripts/quoted-numbers.mjs, the course build (scripts/notebooks.mjs) and the tests reading-time,
// quoted-numbers and line-length.
//
// One entry per line, so that branches adding their notebooks merge without trouble.

/**
 * Notebooks (file names in notebooks/) whose reading time, quoted numbers and lines are checked.
 */
export const CHECKED_NOTEBOOKS = [
  "00-welcome.ipynb",
  "01-trajectory-and-flow.ipynb",
  "02-continuity-equation.ipynb",
  "03-conditional-paths.ipynb",
  "04-marginal-vector-field.ipynb",
  "07-reflow.ipynb",
  "08-unification.ipynb",
  "05-cfm-loss.ipynb",
  "06-training.ipynb",
  "09-images-and-guidance.ipynb",
];

/** Files under src/ (paths from the course root) whose lines must be at most 100 characters. */
export const CHECKED_SOURCES = [
  "src/figures/flows.ts",
  "src/figures/continuity.ts",
  "src/metrics/twoSample.ts",
  "src/figures/conditional.ts",
  "src/figures/marginal.ts",
  "src/figures/unification.ts",
];

/**
 * The formatter (scripts/format.mjs, `npm run format`): tests/format.test.ts holds these files
 * (paths from the course root) to it: formatted, and no line over 100 characters. At the end the
 * lead formats the whole tree and sets FORMAT_EVERYTHING to true: from then on the test covers
 * every file the formatter does (src/, tests/, bench/, scripts/, notebooks/*.ipynb); "code" covers
 * every code file but only the notebooks listed here.
 */
/** @type {boolean | "code"} */
export const FORMAT_EVERYTHING = "code";
export const FORMATTED_FILES = [
  "scripts/format.mjs",
  "scripts/checked-notebooks.mjs",
  "tests/format.test.ts",
  "tests/line-length.test.ts",
  "notebooks/00-welcome.ipynb",
  "src/figures/training.ts",
];

/** Whether a notebook (a path or a file name) is on the list. */
export function isChecked(notebook) {
  const name = String(notebook).split(/[\\/]/).pop();
  return CHECKED_NOTEBOOKS.includes(name);
}
