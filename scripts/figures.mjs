#!/usr/bin/env node
// npm run figures: static SVG and PNG files of the figures that notebooks mark for export.
//
//   npm run figures                                  every notebook in notebooks/, in lecture order
//   npm run figures -- notebooks/00-welcome.ipynb    only these notebooks
//   node scripts/figures.mjs --executed build/00-welcome.ipynb [--stem 00-welcome] [--out figures]
//                                                     export from an already executed notebook
//
// A figure is marked in a notebook with `fm.show(figure, { export: "name" })`: its display output
// then carries `metadata["flow-matching"].export = "name"`. Each notebook is executed (through the
// course build's runner, scripts/notebooks.mjs), its marked outputs are collected, and each is
// drawn by plotly.js (the minified bundle from node_modules) in headless Chromium, to
// figures/<notebook-stem>--<name>.svg and .png. Files of that notebook it no longer exports are
// removed.
//
// Byte-identical on re-run: the builders fix every trace uid, and Math.random (which plotly uses
// for its layout id and clip-path ids) is reset to a fixed-seed generator before each image.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const require = createRequire(import.meta.url);

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";
export const METADATA_KEY = "flow-matching";
/** Size of figures whose layout sets none, and the PNG's pixel ratio. */
export const DEFAULT_SIZE = { width: 720, height: 480 };
export const PNG_SCALE = 2;
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/**
 * The figures a notebook marks for export: [{ name, figure, cell }], in order; duplicate names are
 * an error.
 */
export function collectExports(notebook, label = "notebook") {
  const found = [];
  const seen = new Map();
  (notebook.cells || []).forEach((cell, index) => {
    for (const output of cell.outputs || []) {
      const name = output.metadata?.[METADATA_KEY]?.export;
      const figure = output.data?.[PLOTLY_MIME];
      if (!name || !figure) continue;
      if (seen.has(name)) {
        throw new Error(
          `${label}: the export name "${name}" is used twice (cells ${seen.get(name) + 1} and ` +
            `${index + 1})`,
        );
      }
      seen.set(name, index);
      found.push({ name, figure, cell: index + 1 });
    }
  });
  return found;
}

/** Launches headless Chromium with plotly.js loaded in a blank page. Call `close()` when done. */
export async function openRenderer() {
  const { chromium } = require("playwright-core");
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}. Install it (Debian: apt-get install chromium) or set ` +
        `CHROMIUM_PATH.`,
    );
  }
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--font-render-hinting=none",
    ],
  });
  const page = await browser.newPage({
    viewport: { width: 1200, height: 900 },
    deviceScaleFactor: 1,
  });
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await page.setContent(
    "<!DOCTYPE html><html><head><meta charset='utf-8'></head><body></body></html>",
  );
  await page.addScriptTag({ path: require.resolve("plotly.js-dist-min") });
  if (!(await page.evaluate(() => typeof window.Plotly === "object"))) {
    throw new Error(`plotly.js did not load in Chromium: ${errors.join("; ")}`);
  }

  /** One figure as { svg: string, png: Buffer }. */
  async function render(figure) {
    const width = Number.isFinite(figure.layout?.width) ? figure.layout.width : DEFAULT_SIZE.width;
    const height = Number.isFinite(figure.layout?.height)
      ? figure.layout.height
      : DEFAULT_SIZE.height;
    const result = await page.evaluate(
      async ({ figure, width, height, scale }) => {
        // sfc32 from a fixed seed: plotly's random ids come out the same every time.
        const original = Math.random;
        let a = 0x9e3779b9,
          b = 0x243f6a88,
          c = 0xb7e15162,
          d = 1;
        Math.random = () => {
          const t = (((a + b) >>> 0) + d) >>> 0;
          d = (d + 1) >>> 0;
          a = b ^ (b >>> 9);
          b = (c + (c << 3)) >>> 0;
          c = ((c << 21) | (c >>> 11)) >>> 0;
          c = (c + t) >>> 0;
          return t / 4294967296;
        };
        try {
          const fig = {
            data: figure.data,
            layout: { ...figure.layout, width, height },
            config: { ...(figure.config || {}) },
          };
          const svg = await window.Plotly.toImage(fig, {
            format: "svg",
            width,
            height,
            imageDataOnly: true,
          });
          const png = await window.Plotly.toImage(fig, {
            format: "png",
            width,
            height,
            scale,
            imageDataOnly: true,
          });
          return { svg, png };
        } finally {
          Math.random = original;
        }
      },
      { figure, width, height, scale: PNG_SCALE },
    );
    if (errors.length) throw new Error(`plotly.js failed in Chromium: ${errors.join("; ")}`);
    return { svg: result.svg, png: Buffer.from(result.png, "base64") };
  }

  return { render, close: () => browser.close() };
}

function writeIfChanged(path, content) {
  const next = typeof content === "string" ? Buffer.from(content, "utf8") : content;
  if (existsSync(path) && readFileSync(path).equals(next)) return false;
  writeFileSync(path, next);
  return true;
}

/**
 * Exports the marked figures of one executed notebook to `<outDir>/<stem>--<name>.svg|png` and
 * removes that stem's files it no longer exports. Returns { written, unchanged, removed, names }.
 */
export async function exportFigures(
  executedPath,
  { stem, outDir = join(ROOT, "figures"), renderer } = {},
) {
  stem =
    stem ||
    basename(executedPath)
      .replace(/\.ipynb$/, "")
      .replace(/\.executed$/, "");
  const notebook = JSON.parse(readFileSync(executedPath, "utf8"));
  const items = collectExports(notebook, stem);
  mkdirSync(outDir, { recursive: true });
  const own = renderer ? null : await openRenderer();
  const r = renderer || own;
  const keep = new Set();
  const written = [];
  const unchanged = [];
  try {
    for (const item of items) {
      const { svg, png } = await r.render(item.figure);
      for (const [ext, content] of [
        ["svg", svg],
        ["png", png],
      ]) {
        const file = `${stem}--${item.name}.${ext}`;
        keep.add(file);
        (writeIfChanged(join(outDir, file), content) ? written : unchanged).push(file);
      }
    }
  } finally {
    if (own) await own.close();
  }
  const removed = [];
  for (const file of readdirSync(outDir)) {
    if (file.startsWith(`${stem}--`) && /\.(svg|png)$/.test(file) && !keep.has(file)) {
      rmSync(join(outDir, file));
      removed.push(file);
    }
  }
  return { written, unchanged, removed, names: items.map((i) => i.name) };
}

/** The course's notebooks in lecture order (file names start with their number). */
export function courseNotebooks() {
  const dir = join(ROOT, "notebooks");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb") && !f.startsWith("."))
    .sort()
    .map((f) => join(dir, f));
}

/** Executes one notebook with the course build's runner; returns the executed notebook's path. */
async function execute(notebookPath) {
  const runner = join(ROOT, "scripts", "notebooks.mjs");
  if (!existsSync(runner))
    throw new Error(`the course runner ${runner} is missing (it executes the notebooks)`);
  const mod = await import(pathToFileURL(runner).href);
  const build = mod.buildNotebook;
  if (typeof build !== "function") throw new Error(`${runner} does not export buildNotebook(path)`);
  const result = await build(notebookPath);
  return result;
}

function parseArgs(argv) {
  const args = { notebooks: [], executed: [], out: join(ROOT, "figures"), stem: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--executed") args.executed.push(resolve(argv[++i]));
    else if (a === "--out") args.out = resolve(argv[++i]);
    else if (a === "--stem") args.stem = argv[++i];
    else if (a === "-h" || a === "--help") args.help = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a} (try --help)`);
    else args.notebooks.push(resolve(a));
  }
  return args;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(
      readFileSync(fileURLToPath(import.meta.url), "utf8")
        .split("\n")
        .slice(1, 8)
        .join("\n"),
    );
    return;
  }
  const jobs = [];
  for (const path of args.executed) jobs.push({ stem: args.stem, executedPath: path });
  if (args.executed.length === 0) {
    const notebooks = args.notebooks.length ? args.notebooks : courseNotebooks();
    for (const nb of notebooks) jobs.push({ stem: basename(nb, ".ipynb"), notebook: nb });
  }
  const renderer = await openRenderer();
  let total = 0;
  try {
    for (const job of jobs) {
      const t0 = Date.now();
      let executedPath = job.executedPath;
      let runInfo = "";
      if (!executedPath) {
        const result = await execute(job.notebook);
        executedPath = result.executedPath;
        runInfo = `executed in ${Number(result.seconds).toFixed(1)} s on ${result.backend}, `;
      }
      const r = await exportFigures(executedPath, { stem: job.stem, outDir: args.out, renderer });
      total += r.names.length;
      const stem = job.stem || basename(executedPath, ".ipynb");
      console.log(
        `${stem}: ${r.names.length} figure(s) [${r.names.join(", ")}]; ${runInfo}` +
          `${r.written.length} file(s) written, ${r.unchanged.length} unchanged, ` +
          `${r.removed.length} removed` +
          `${r.removed.length ? ` (${r.removed.join(", ")})` : ""}; ` +
          `${((Date.now() - t0) / 1000).toFixed(1)} s`,
      );
    }
  } finally {
    await renderer.close();
  }
  console.log(`${total} figure(s) exported to ${args.out}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    console.error(`npm run figures failed: ${err instanceof Error ? err.message : err}`);
    process.exit(1);
  });
}
