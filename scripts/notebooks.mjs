#!/usr/bin/env node
// The course build (`npm start`): executes the notebooks strictly and writes them, with HTML pages
// and an index, to build/.
//
//   npm start                                   every notebook in notebooks/, in file-name
//     (lecture) order
//   npm start -- notebooks/00-welcome.ipynb     only these notebooks
//   npm start -- --timeout 600 --out somewhere  per-notebook time limit in seconds (default 300),
//     output folder
//
// Each notebook runs top to bottom through Jupyter's own client (nbclient, scripts/run_notebook.py,
// with Debian's /usr/bin/python3 or $FM_PYTHON) on the course's kernel, in the course root. A cell
// that fails, anything printed on stderr, an unhandled promise rejection (also one from code still
// running in the background after the last cell) and the time limit (kernel start included) each
// fail the notebook, with its name, the code cell's number and first line, and the kernel's own
// error text. Two checks of the notebook itself fail it too: an appendix whose cells are not tagged
// and collapsed (scripts/appendix.mjs; checked before it runs), and, for the notebooks listed in
// scripts/checked-notebooks.mjs, a number quoted in its markdown that no output shows
// (scripts/quoted-numbers.mjs; checked after it ran, the executed notebook and page are kept). Also
// a module: buildNotebook(path, options) and buildCourse(options).
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
  renameSync,
  accessSync,
  constants,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, delimiter, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import {
  KERNEL_NAME,
  DISPLAY_NAME,
  installKernel,
  kernelSpec,
  writeKernelSpec,
} from "./install-kernel.mjs";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const BUILD_DIR = join(ROOT, "build");
export const NOTEBOOK_DIR = join(ROOT, "notebooks");
const RUNNER = join(ROOT, "scripts", "run_notebook.py");

/**
 * The time each notebook should take at most on a quiet 2-core machine; the report marks those
 * over it.
 * (A target, not a limit: the tests assert no speeds, see issue 13.)
 */
const TARGET_SECONDS = 45;

/** Default per-notebook time limit in seconds (kernel start included). */
export const DEFAULT_TIMEOUT = 300;

/** What to install when Jupyter's client pieces are missing (Debian package names, pip names). */
export const JUPYTER_DEBIAN_PACKAGES = [
  "jupyter-client",
  "python3-nbclient",
  "python3-nbformat",
  "jupyter-nbconvert",
];
export const JUPYTER_PIP_PACKAGES = ["nbclient", "nbformat", "nbconvert", "jupyter_client"];

/** How to install Jupyter's client pieces, on this kind of machine. */
export function jupyterInstallHint() {
  const debian = existsSync("/etc/debian_version");
  return debian
    ? `Install them with: apt-get install ${JUPYTER_DEBIAN_PACKAGES.join(" ")}   (as root, or ` +
        `with sudo)`
    : `Install them with: pip install ${JUPYTER_PIP_PACKAGES.join(" ")}   (then set FM_PYTHON to ` +
        `that python if it is not /usr/bin/python3 or python3)`;
}

/** A notebook that failed under the strict runner (or could not run at all). */
export class NotebookError extends Error {
  constructor(message, details = {}) {
    super(message);
    this.name = "NotebookError";
    /** { notebook, kind, cell, firstLine, text, failedPath } */
    this.details = details;
  }
}

/** Jupyter's client pieces are missing: the message says what to install. */
export class JupyterMissingError extends Error {
  constructor(message) {
    super(message);
    this.name = "JupyterMissingError";
  }
}

function pythonCandidates() {
  if (process.env.FM_PYTHON) return [process.env.FM_PYTHON];
  return process.platform === "win32"
    ? ["python", "py"]
    : ["/usr/bin/python3", "python3", "python"];
}

let pythonCache;

/**
 * The Python that has Jupyter's client pieces (nbclient, nbformat, nbconvert, jupyter_client):
 * $FM_PYTHON when set, else /usr/bin/python3 (Debian's Jupyter), else python3 on PATH.
 * Throws JupyterMissingError saying what to install.
 */
export function findPython() {
  if (pythonCache) return pythonCache;
  const tried = [];
  for (const python of pythonCandidates()) {
    const r = spawnSync(python, [RUNNER, "--check"], { encoding: "utf8" });
    if (r.error) {
      tried.push(`${python}: not found`);
      continue;
    }
    let missing = null;
    try {
      missing = JSON.parse(r.stdout.trim().split("\n").pop()).missing;
    } catch {
      tried.push(
        `${python}: could not run ${RUNNER} (${(r.stderr || "").trim().split("\n").pop()})`,
      );
      continue;
    }
    if (missing.length === 0) return (pythonCache = python);
    tried.push(`${python}: lacks ${missing.join(", ")}`);
  }
  throw new JupyterMissingError(
    `Jupyter's client (nbclient, nbformat, nbconvert, jupyter_client) is needed to execute the ` +
      `notebooks, ` +
      `and no Python here has it (${tried.join("; ")}).\n${jupyterInstallHint()}`,
  );
}

/**
 * A kernelspec private to this copy of the course, for the runner: it always starts this copy's
 * launcher, whatever the user has registered (returned as a JUPYTER_PATH entry).
 */
function privateKernelPath() {
  const tag = createHash("sha1").update(ROOT).digest("hex").slice(0, 10);
  const dir = join(tmpdir(), `flow-matching-kernel-${tag}`);
  writeKernelSpec(join(dir, "kernels"), kernelSpec());
  return dir;
}

let checksCache;

/**
 * The course's own checks of a notebook (appendix, quoted numbers, the opt-in list), or null where
 * their scripts are absent: a student's copy of the course ships the runner without them.
 */
async function courseChecks() {
  if (checksCache !== undefined) return checksCache;
  const files = ["appendix.mjs", "quoted-numbers.mjs", "checked-notebooks.mjs"].map((f) =>
    join(ROOT, "scripts", f),
  );
  if (!files.every((f) => existsSync(f))) return (checksCache = null);
  const [appendix, quoted, list] = await Promise.all(
    files.map((f) => import(pathToFileURL(f).href)),
  );
  return (checksCache = { appendix, quoted, list });
}

/** Drops tslab's and Node's own frames from a stack trace: what is left points at the cell. */
export function tidyErrorText(text) {
  const lines = String(text).replace(/\s+$/, "").split("\n");
  const internal = new RegExp(
    String.raw`^\s+at .*(node_modules[\\/]tslab|node:vm|node:internal` +
      String.raw`|scripts[\\/]kernel\.js|sigintHandlersWrap|Script\.runInThisContext)`,
  );
  return lines.filter((l) => !internal.test(l)).join("\n");
}

function rel(p) {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith("..") ? r : p;
}

/**
 * Executes one notebook strictly (see the header) and writes `<outDir>/<name>.ipynb` and, unless
 * `html` is false, `<outDir>/<name>.html`. On failure these are removed (they would be stale), the
 * partly executed notebook is kept as `<outDir>/<name>.failed.ipynb`, and a NotebookError is
 * thrown.
 *
 * @param {string} notebookPath
 * @param {{ outDir?: string, timeout?: number, html?: boolean, kernel?: string, cwd?: string,
 *   quotedNumbers?: boolean }} [options]
 *   outDir: default build/; timeout: seconds for the whole notebook, kernel start included (default
 *     300);
 *   html: write the HTML page (default true); kernel: kernelspec name (default: this copy's course
 *   kernel); cwd: where the kernel starts (default the course root); quotedNumbers: run the
 *     quoted-number
 *   check (default: when scripts/checked-notebooks.mjs lists the notebook).
 * @returns {Promise<{ executedPath: string, htmlPath: string | null, seconds: number, backend:
 *   string, cells: number }>}
 */
export async function buildNotebook(notebookPath, options = {}) {
  const { outDir = BUILD_DIR, timeout = DEFAULT_TIMEOUT, html = true, cwd = ROOT } = options;
  const notebook = resolve(notebookPath);
  if (!existsSync(notebook))
    throw new NotebookError(`${rel(notebook)}: no such notebook`, { notebook, kind: "missing" });
  if (!(timeout > 0))
    throw new Error(`timeout must be a positive number of seconds; got ${timeout}`);
  const python = findPython();
  const checks = await courseChecks();
  if (checks) {
    const problems = checks.appendix.appendixProblems(JSON.parse(readFileSync(notebook, "utf8")));
    if (problems.length) {
      const text = `${problems.join("\n")}\n(${checks.appendix.fixHint(rel(notebook))})`;
      throw new NotebookError(
        `${rel(notebook)}: its appendix is not tagged and collapsed:\n${text}`,
        { notebook, kind: "appendix", text },
      );
    }
  }
  const stem = basename(notebook, ".ipynb");
  mkdirSync(outDir, { recursive: true });
  const executedPath = join(outDir, `${stem}.ipynb`);
  const htmlPath = html ? join(outDir, `${stem}.html`) : null;
  const failedPath = join(outDir, `${stem}.failed.ipynb`);
  const work = mkdtempSync(join(tmpdir(), "fm-run-"));
  const resultPath = join(work, "result.json");
  const env = { ...process.env };
  let kernel = options.kernel;
  if (!kernel) {
    kernel = KERNEL_NAME;
    env.JUPYTER_PATH = [privateKernelPath(), env.JUPYTER_PATH].filter(Boolean).join(delimiter);
  }
  const args = [
    RUNNER,
    "--notebook",
    notebook,
    "--executed",
    join(work, "executed.ipynb"),
    "--failed",
    join(work, "failed.ipynb"),
    "--result",
    resultPath,
    "--kernel",
    kernel,
    "--cwd",
    cwd,
    "--timeout",
    String(timeout),
  ];
  if (html) args.push("--html", join(work, "page.html"));

  const t0 = Date.now();
  const { code, stderr } = await new Promise((resolvePromise, reject) => {
    const child = spawn(python, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stdout.on("data", () => {});
    child.stderr.on("data", (d) => (err += d));
    // A safety net only: the runner enforces the limit itself (and shuts the kernel down).
    const guard = setTimeout(() => child.kill("SIGKILL"), (timeout + 120) * 1000);
    child.on("error", reject);
    child.on("close", (c, signal) => {
      clearTimeout(guard);
      resolvePromise({ code: c ?? signal, stderr: err });
    });
  });
  try {
    let result = null;
    try {
      result = JSON.parse(readFileSync(resultPath, "utf8"));
    } catch {
      const tail = stderr.trim().split("\n").slice(-15).join("\n");
      throw new NotebookError(
        `${rel(notebook)}: the runner stopped without a result (exit ${code}):\n${tail}`,
        { notebook, kind: "runner" },
      );
    }
    if (!result.ok) {
      for (const p of [executedPath, htmlPath]) if (p) rmSync(p, { force: true });
      if (existsSync(join(work, "failed.ipynb")))
        renameSync(join(work, "failed.ipynb"), failedPath);
      const e = result.error;
      const where = e.cell
        ? `, code cell ${e.cell}${e.firstLine ? ` (${JSON.stringify(e.firstLine)})` : ""}`
        : "";
      const what =
        {
          error: "failed",
          stderr: "printed on stderr",
          timeout: "hit the time limit",
          "dead-kernel": "killed the kernel",
          kernel: "could not run",
          background: "failed after its last cell",
        }[e.kind] ?? "failed";
      const text = tidyErrorText(e.message);
      throw new NotebookError(`${rel(notebook)}${where} ${what}:\n${text}`, {
        notebook,
        kind: e.kind,
        cell: e.cell ?? null,
        firstLine: e.firstLine ?? null,
        text,
        failedPath: existsSync(failedPath) ? failedPath : null,
      });
    }
    rmSync(failedPath, { force: true });
    renameSync(join(work, "executed.ipynb"), executedPath);
    if (htmlPath) renameSync(join(work, "page.html"), htmlPath);
    if (checks && (options.quotedNumbers ?? checks.list.isChecked(notebook))) {
      const executed = JSON.parse(readFileSync(executedPath, "utf8"));
      const { problems } = checks.quoted.checkQuotedNumbers(executed);
      if (problems.length) {
        const text = checks.quoted.describeProblems(executed, problems).join("\n");
        throw new NotebookError(`${rel(notebook)} quotes numbers that no output shows:\n${text}`, {
          notebook,
          kind: "quoted-numbers",
          cell: null,
          firstLine: null,
          text,
          failedPath: null,
        });
      }
    }
    return {
      executedPath,
      htmlPath,
      seconds: result.seconds ?? (Date.now() - t0) / 1000,
      backend: result.backend ?? "unknown",
      cells: result.cells,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The course's notebooks in file-name (lecture) order. */
export function courseNotebooks(dir = NOTEBOOK_DIR) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb") && !f.startsWith("."))
    .sort()
    .map((f) => join(dir, f));
}

/** A notebook's title: its first Markdown heading, else its file name. */
export function notebookTitle(path) {
  try {
    const nb = JSON.parse(readFileSync(path, "utf8"));
    for (const cell of nb.cells) {
      if (cell.cell_type !== "markdown") continue;
      const src = Array.isArray(cell.source) ? cell.source.join("") : cell.source;
      const m = /^#\s+(.+)$/m.exec(src);
      if (m) return m[1].trim();
    }
  } catch {
    // fall through
  }
  return basename(path, ".ipynb");
}

const escapeHtml = (s) =>
  String(s).replace(
    /[&<>"]/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c],
  );

/** Writes `<outDir>/index.html` linking the built pages in order. */
export function writeIndex(entries, outDir = BUILD_DIR) {
  const items = entries
    .map((e) => {
      const title = escapeHtml(e.title);
      if (e.error)
        return `<li><span class="failed">${title}</span> — failed (see the build's output)</li>`;
      const link = e.htmlPath
        ? `<a href="${escapeHtml(basename(e.htmlPath))}">${title}</a>`
        : title;
      const when = e.earlier
        ? "from an earlier build"
        : `${e.seconds.toFixed(1)} s, ${escapeHtml(e.backend)}`;
      return (
        `<li>${link} <span class="meta">(${when}; <a ` +
        `href="${escapeHtml(basename(e.executedPath))}">notebook</a>)</span></li>`
      );
    })
    .join("\n");
  const html = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Flow matching: the course</title>
<style>body{font-family:system-ui,sans-serif;max-width:46em;margin:2em auto;line-height:1.5}\
.meta{color:#666;font-size:90%}.failed{color:#b00}</style>
</head><body>
<h1>Flow matching: the course</h1>
<p>The notebooks, executed top to bottom by <code>npm start</code>, in lecture order.
To run them yourself, open <code>notebooks/</code> in Jupyter or VS Code with the kernel \
“${escapeHtml(DISPLAY_NAME)}”.</p>
<ol>
${items}
</ol>
</body></html>
`;
  mkdirSync(outDir, { recursive: true });
  const path = join(outDir, "index.html");
  writeFileSync(path, html);
  return path;
}

function onPath(name) {
  const exts =
    process.platform === "win32" ? (process.env.PATHEXT || ".EXE;.CMD;.BAT").split(";") : [""];
  for (const dir of (process.env.PATH || "").split(delimiter)) {
    for (const ext of exts) {
      try {
        accessSync(join(dir, name + ext), constants.X_OK);
        return true;
      } catch {
        // keep looking
      }
    }
  }
  return false;
}

/** How to open the course interactively, given what is installed here. */
export function howToOpen() {
  const lines = ['To work through the course interactively (kernel: "' + DISPLAY_NAME + '"):'];
  const lab = onPath("jupyter-lab");
  const classic = onPath("jupyter-notebook");
  if (lab) lines.push("  jupyter lab notebooks/");
  if (classic)
    lines.push(`  jupyter notebook notebooks/${lab ? "          (classic Notebook)" : ""}`);
  if (!lab && !classic) {
    lines.push(
      "  Jupyter Lab / Notebook is not installed here. Install one, then open the notebooks " +
        "folder:",
    );
    lines.push("    pip install jupyterlab                 then: jupyter lab notebooks/");
    if (existsSync("/etc/debian_version"))
      lines.push(
        "    apt-get install jupyter-notebook       then: jupyter notebook notebooks/   (classic " +
          "Notebook, Debian)",
      );
  }
  lines.push(
    `  VS Code: open a notebook in notebooks/ and pick the kernel "${DISPLAY_NAME}" (Select ` +
      `Kernel > Jupyter Kernel).`,
  );
  lines.push("After editing src/, restart the kernel to use the change.");
  return lines.join("\n");
}

/**
 * Registers the kernel, builds the notebooks in order (all of them by default), writes the index
 * page and prints per-notebook wall time and backend. A failing notebook does not stop the others;
 * the returned `failed` lists them.
 * @param {{ notebooks?: string[], outDir?: string, timeout?: number, log?: (line: string) => void
 *   }} [options]
 */
export async function buildCourse(options = {}) {
  const { outDir = BUILD_DIR, timeout = DEFAULT_TIMEOUT, log = (s) => console.log(s) } = options;
  const notebooks = options.notebooks?.length
    ? options.notebooks.map((p) => resolve(p))
    : courseNotebooks();
  const kernel = installKernel({ quiet: true });
  findPython(); // says what to install before anything else happens
  log(`Kernel "${DISPLAY_NAME}" registered at ${kernel.path}`);
  const entries = [];
  for (const nb of notebooks) {
    const title = notebookTitle(nb);
    log(`▶ ${rel(nb)} ...`);
    try {
      const r = await buildNotebook(nb, { outDir, timeout });
      entries.push({ notebook: nb, title, ...r });
      log(`  done in ${r.seconds.toFixed(1)} s on ${r.backend}: ${rel(r.htmlPath)}`);
    } catch (err) {
      if (err instanceof JupyterMissingError) throw err;
      entries.push({ notebook: nb, title, error: err });
      log(
        `  FAILED: ${String(err instanceof Error ? err.message : err).split("\n")[0]} (details ` +
          `below)`,
      );
    }
  }
  // The index lists the whole course; a partial build (named notebooks) keeps the other entries
  // that are already built.
  const all = options.notebooks?.length ? mergeWithExisting(entries, outDir) : entries;
  const indexPath = writeIndex(all, outDir);
  const failed = entries.filter((e) => e.error);
  log("");
  log("Notebook                                   time      backend");
  for (const e of entries) {
    const name = basename(e.notebook).padEnd(42);
    const over = !e.error && e.seconds > TARGET_SECONDS;
    const slow = over ? `  over the ${TARGET_SECONDS} s target` : "";
    const time = e.error ? "" : (e.seconds.toFixed(1) + " s").padStart(8);
    log(e.error ? `${name} FAILED` : `${name} ${time}  ${e.backend}${slow}`);
  }
  const total = entries.reduce((s, e) => s + (e.seconds ?? 0), 0);
  log(
    `${entries.length - failed.length} of ${entries.length} notebook(s) built in ` +
      `${total.toFixed(1)} s; index: ${rel(indexPath)}`,
  );
  if (failed.length) {
    log("");
    for (const e of failed) log(`✗ ${e.error instanceof Error ? e.error.message : e.error}`);
  }
  return { entries, failed, indexPath };
}

function mergeWithExisting(entries, outDir) {
  const built = new Map(entries.map((e) => [basename(e.notebook), e]));
  const out = [];
  for (const nb of courseNotebooks()) {
    const name = basename(nb);
    if (built.has(name)) {
      out.push(built.get(name));
      built.delete(name);
      continue;
    }
    const stem = basename(nb, ".ipynb");
    const htmlPath = join(outDir, `${stem}.html`);
    const executedPath = join(outDir, `${stem}.ipynb`);
    if (existsSync(htmlPath) && existsSync(executedPath)) {
      out.push({ notebook: nb, title: notebookTitle(nb), htmlPath, executedPath, earlier: true });
    }
  }
  return [...out, ...built.values()];
}

function parseArgs(argv) {
  const args = { notebooks: [], timeout: DEFAULT_TIMEOUT, outDir: BUILD_DIR };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--timeout") args.timeout = Number(argv[++i]);
    else if (a === "--out") args.outDir = resolve(argv[++i]);
    else if (a === "-h" || a === "--help") args.help = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a} (try --help)`);
    else args.notebooks.push(resolve(a));
  }
  if (!(args.timeout > 0)) throw new Error(`--timeout needs a positive number of seconds`);
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(
      readFileSync(fileURLToPath(import.meta.url), "utf8")
        .split("\n")
        .slice(1, 7)
        .map((l) => l.replace(/^\/\/ ?/, ""))
        .join("\n"),
    );
    return 0;
  }
  const { failed } = await buildCourse(args);
  console.log("");
  console.log(howToOpen());
  return failed.length ? 1 : 0;
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      console.error(
        err instanceof JupyterMissingError
          ? err.message
          : `The course build failed: ${err instanceof Error ? err.stack : err}`,
      );
      process.exit(1);
    },
  );
}
