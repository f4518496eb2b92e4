/**
 * The one module that talks to the notebook: `show(figure)` and friends.
 *
 * A figure becomes one display output carrying three representations; each front end picks the
 * richest it can render:
 * - `application/vnd.plotly.v1+json`: the figure itself. Jupyter Lab (with plotly's renderer
 *   extension) and VS Code draw it natively.
 * - `text/html`: a `<div>` and a script calling `Plotly.newPlot`, for classic Notebook, Lab without
 *   the extension, and the HTML pages of the course build (nbconvert). The script draws with the
 *   page's `window.Plotly`; inside Jupyter, the first figure of a page without it loads plotly.js
 *   (the minified bundle, about 4.8 MB) once, from the copy `npm install` puts beside the
 *   kernelspec, which Jupyter serves (`/kernelspecs/flow-matching/plotly-<version>.min.js`, see
 *   scripts/install-kernel.mjs). So the bundle is never saved inside a notebook; the course's HTML
 *   pages embed it once each (scripts/run_notebook.py), and work offline. Where the script does
 *   not run (an untrusted notebook: Jupyter strips scripts from outputs it did not compute itself),
 *   the figure's place shows a one-line hint saying how to trust the notebook or re-run the cell.
 * - `text/plain`: a one-line summary, for terminals and plain viewers.
 *
 * Outside a Jupyter kernel (vitest, plain node) nothing is displayed: `show` prints the one-line
 * summary and returns the same bundle, so scripts and tests can inspect it.
 */
import { randomBytes } from "crypto";
import { closeSync, openSync, readFileSync, readSync } from "fs";
import { Figure, isFigure } from "../figures/figure";

/** Plotly's MIME type (what Lab and VS Code render natively). */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** The key of this course's entries in an output's metadata. */
export const METADATA_KEY = "flow-matching";

/** One display output: data by MIME type, metadata, and (for updatable outputs) a display id. */
export interface DisplayBundle {
  data: Record<string, unknown>;
  metadata: Record<string, unknown>;
  transient?: { display_id?: string };
}

/**
 * What tslab's kernel calls to send `display_data` (`update` false) or `update_display_data`
 * (true).
 */
type DisplayWriter = (content: DisplayBundle, update: boolean) => void;

let jupyterModulePath: string | null | undefined;

/**
 * The kernel's display writer, or null outside a tslab kernel. tslab keeps the writer of the cell
 * being executed in its `jupyter` module (the same function its own `display.raw` uses); the module
 * is only loaded inside a kernel, so outside one we find nothing without loading anything.
 */
export function kernelDisplayWriter(): DisplayWriter | null {
  try {
    if (jupyterModulePath === undefined) jupyterModulePath = require.resolve("tslab/dist/jupyter");
    const mod = jupyterModulePath ? require.cache[jupyterModulePath] : undefined;
    const writer = (mod?.exports as { lastWriteDisplayData?: unknown } | undefined)
      ?.lastWriteDisplayData;
    return typeof writer === "function" ? (writer as DisplayWriter) : null;
  } catch {
    jupyterModulePath = null;
    return null;
  }
}

/** True inside a Jupyter kernel (tslab) that can show rich output. */
export function inKernel(): boolean {
  return kernelDisplayWriter() !== null;
}

/** Sends one output to the notebook (or returns false outside a kernel). */
export function sendDisplay(bundle: DisplayBundle, update = false): boolean {
  const write = kernelDisplayWriter();
  if (!write) return false;
  write(bundle, update);
  return true;
}

/** A fresh display id (for outputs updated in place). */
export function newDisplayId(): string {
  return randomBytes(8).toString("hex");
}

// Per kernel process: a session tag that keeps plot ids unique even when a restarted kernel writes
// into the same page. Kept on globalThis so that a re-imported copy of this module (tslab may
// compile it again) shares it.
interface SessionState {
  session: string;
  count: number;
}
const STATE_KEY = "__flowMatchingDisplay";
function state(): SessionState {
  const g = globalThis as unknown as Record<string, SessionState | undefined>;
  if (!g[STATE_KEY]) g[STATE_KEY] = { session: randomBytes(4).toString("hex"), count: 0 };
  return g[STATE_KEY] as SessionState;
}

let bundleSource: string | null = null;

/** The minified plotly.js bundle (read once from node_modules). */
export function plotlyBundle(): string {
  if (bundleSource === null)
    bundleSource = readFileSync(require.resolve("plotly.js-dist-min"), "utf8");
  return bundleSource;
}

let version: string | null = null;

/** The plotly.js version shipped with the course (from the bundle's header only). */
export function plotlyVersion(): string {
  if (version === null) {
    const head = Buffer.alloc(300);
    const fd = openSync(require.resolve("plotly.js-dist-min"), "r");
    try {
      readSync(fd, head, 0, head.length, 0);
    } finally {
      closeSync(fd);
    }
    const m = /plotly\.js v([0-9][^\s*]*)/.exec(head.toString("utf8"));
    version = m ? m[1] : "unknown";
  }
  return version;
}

/**
 * Where Jupyter serves the course's copy of plotly.js, relative to the server's base URL: a
 * resource of the kernelspec (scripts/install-kernel.mjs writes it into
 * `<Jupyter data dir>/kernels/flow-matching/`; classic Notebook and Jupyter Server serve it).
 */
export function plotlyJupyterPath(): string {
  return `kernelspecs/flow-matching/plotly-${plotlyVersion()}.min.js`;
}

/** JSON that is safe inside an HTML `<script>` (no `</script>`, no `<!--`, no line separators). */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, "\\u003c")
    .replace(/>/g, "\\u003e")
    .replace(/&/g, "\\u0026")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");
}

/** The `<script>` that defines `window.Plotly` (the whole minified bundle). */
export function plotlyScriptTag(): string {
  const src = plotlyBundle();
  if (/<\/script/i.test(src))
    throw new Error("the plotly bundle contains </script> and cannot be inlined");
  return (
    `<script type="text/javascript">/* plotly.js ${plotlyVersion()}, embedded once per ` +
    `notebook */\n${src}\n</script>\n`
  );
}

/**
 * The script that makes `window.Plotly` exist, once per page, and calls back: at once when the
 * page has it (the course's HTML pages embed it), else, inside Jupyter, by loading the course's
 * copy from the server (one request per page, shared by all figures). `done(problem)` gets a
 * message on failure.
 */
function plotlyLoader(): string {
  const path = scriptJson(plotlyJupyterPath());
  const notFound = scriptJson(
    "plotly.js could not be loaded from this Jupyter server. Register the course kernel again " +
      "(node scripts/install-kernel.mjs in the course folder, which installs plotly.js for " +
      "Jupyter), then reload the page.",
  );
  const noJupyter = scriptJson("plotly.js is not on this page, so the figure cannot be drawn.");
  return (
    `function withPlotly(done) {\n` +
    `    if (window.Plotly) return done(null);\n` +
    `    var config = document.getElementById("jupyter-config-data");\n` +
    `    var base = document.body && document.body.getAttribute("data-base-url");\n` +
    `    if (base === null && config) {\n` +
    `      try { base = JSON.parse(config.textContent).baseUrl; } catch (e) { base = null; }\n` +
    `    }\n` +
    `    if (base === null || base === undefined) {\n` +
    `      var tries = 0, timer = setInterval(function () {\n` +
    `        if (window.Plotly) { clearInterval(timer); done(null); }\n` +
    `        else if (++tries > 100) { clearInterval(timer); done(${noJupyter}); }\n` +
    `      }, 100);\n` +
    `      return;\n` +
    `    }\n` +
    `    if (!window.__flowMatchingPlotly) {\n` +
    `      window.__flowMatchingPlotly = new Promise(function (resolve, reject) {\n` +
    `        var s = document.createElement("script");\n` +
    `        s.src = base.replace(/\\/?$/, "/") + ${path};\n` +
    `        s.onload = function () { window.Plotly ? resolve() : reject(); };\n` +
    `        s.onerror = function () { window.__flowMatchingPlotly = null; reject(); };\n` +
    `        document.head.appendChild(s);\n` +
    `      });\n` +
    `    }\n` +
    `    window.__flowMatchingPlotly.then(\n` +
    `      function () { done(null); },\n` +
    `      function () { done(${notFound}); }\n` +
    `    );\n` +
    `  }\n`
  );
}

/** Text made safe inside HTML (element content or a double-quoted attribute). */
export function escapeHtml(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");
}

/**
 * The line a figure's place shows where its script does not run: an untrusted notebook in classic
 * Notebook or JupyterLab (which strip scripts from the HTML of outputs they did not compute
 * themselves), or a viewer without JavaScript. Where the script runs it removes the line at once.
 */
export function untrustedHint(figure: Figure): string {
  return (
    `${describeFigure(figure)} Not drawn: the notebook is not trusted, so Jupyter does not run ` +
    `the figure's script. Trust it (File > Trust Notebook) or run the cell again.`
  );
}

/**
 * The HTML of one figure: a div holding a one-line hint (see `untrustedHint`) and a script that
 * replaces the hint by the plot once `window.Plotly` exists. The div takes the figure's height only
 * when the script runs, so a notebook that does not run it shows one line, not a blank area.
 */
export function figureHtml(figure: Figure, divId: string, embedPlotly: boolean): string {
  const height = typeof figure.layout.height === "number" ? `${figure.layout.height}px` : "450px";
  const width = typeof figure.layout.width === "number" ? `${figure.layout.width}px` : "100%";
  return (
    (embedPlotly ? plotlyScriptTag() : "") +
    `<div id="${divId}" class="fm-figure" style="width:${width};max-width:100%">` +
    `<div class="fm-figure-hint" style="font-style:italic;color:#666">` +
    `${escapeHtml(untrustedHint(figure))}</div></div>\n` +
    `<script type="text/javascript">\n(function () {\n` +
    `  var id = ${scriptJson(divId)}, figure = ${scriptJson(figure)};\n` +
    `  var start = document.getElementById(id);\n` +
    `  if (start) { start.textContent = ""; start.style.height = ${scriptJson(height)}; }\n` +
    `  ${plotlyLoader()}` +
    `  withPlotly(function (problem) {\n` +
    `    var el = document.getElementById(id);\n` +
    `    if (!el) return;\n` +
    `    if (problem) el.textContent = problem; else window.Plotly.newPlot(el, figure);\n` +
    `  });\n})();\n</script>`
  );
}

/** A one-line summary of a figure, e.g. `[figure "Training loss": scatter ×2]`. */
export function describeFigure(figure: Figure): string {
  const counts = new Map<string, number>();
  for (const t of figure.data)
    counts.set(t.type ?? "scatter", (counts.get(t.type ?? "scatter") ?? 0) + 1);
  const traces =
    [...counts].map(([type, k]) => (k > 1 ? `${type} ×${k}` : type)).join(", ") || "no traces";
  const t = figure.layout.title as { text?: string } | string | undefined;
  const title = typeof t === "string" ? t : t?.text;
  const frames = figure.frames?.length ? `; ${figure.frames.length} frames` : "";
  return `[figure${title ? ` "${title}"` : ""}: ${traces}${frames}]`;
}

/** Options of `show`. */
export interface ShowOptions {
  /**
   * Mark the figure for static export: `npm run figures` writes it to
   * `figures/<notebook>--<name>.svg` and `.png`. Lower-case letters, digits and dashes. @default
   * none
   */
  export?: string;
}

const EXPORT_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;

/**
 * The display output of a figure (pure: no kernel needed). `embedPlotly` puts the plotly.js bundle
 * in the HTML; `divId` names the plot's element.
 */
export function figureBundle(
  figure: Figure,
  options: ShowOptions & { embedPlotly?: boolean; divId?: string } = {},
): DisplayBundle {
  if (!isFigure(figure)) {
    throw new Error(
      `show needs a figure { data, layout } (see fm.plotPoints, fm.plotLoss, ...); got ` +
        `${typeof figure}`,
    );
  }
  const metadata: Record<string, unknown> = {};
  if (options.export !== undefined) {
    if (typeof options.export !== "string" || !EXPORT_NAME.test(options.export)) {
      throw new Error(
        `export must be a file-name-safe name like "loss-curve" (a-z, 0-9, dashes); got ` +
          `${JSON.stringify(options.export)}`,
      );
    }
    metadata[METADATA_KEY] = { export: options.export };
  }
  const divId = options.divId ?? "fm-figure";
  return {
    data: {
      [PLOTLY_MIME]: figure,
      "text/html": figureHtml(figure, divId, options.embedPlotly ?? false),
      "text/plain": describeFigure(figure),
    },
    metadata,
  };
}

/**
 * Shows a figure inline: interactive in Jupyter Lab, classic Notebook, VS Code and the course's
 * HTML pages. Outside a kernel it prints the one-line summary instead (use `figureBundle` to
 * inspect the output). Returns nothing, so that a cell ending in `fm.show(...)` shows the figure
 * and no echo.
 * @example
 * fm.show(fm.plotPoints(x1, { title: "the data, p_1" })); fm.show(fm.plotLoss(losses), { export:
 * "loss" }); // also written to figures/ by npm run figures
 */
export function show(figure: Figure, options: ShowOptions = {}): void {
  const write = kernelDisplayWriter();
  const s = state();
  s.count += 1;
  const bundle = figureBundle(figure, { ...options, divId: `fm-figure-${s.session}-${s.count}` });
  if (write) write(bundle, false);
  else console.log(bundle.data["text/plain"]);
}

/** Shows Markdown (rendered in every front end; printed as text outside a kernel). */
export function showMarkdown(markdown: string): void {
  if (!sendDisplay({ data: { "text/markdown": markdown, "text/plain": markdown }, metadata: {} }))
    console.log(markdown);
}

/** Shows HTML, with a plain-text fallback (printed outside a kernel). */
export function showHtml(html: string, text = html.replace(/<[^>]*>/g, "")): void {
  if (!sendDisplay({ data: { "text/html": html, "text/plain": text }, metadata: {} }))
    console.log(text);
}
