// Driving the course in Debian's classic Jupyter Notebook (6.x) in headless Chromium, as a student
// sees it (used by tests/frontend.test.ts; not a test file itself).
//
// - `startClassicServer` starts a notebook server on 127.0.0.1 (a free port), with a private token
//   and private Jupyter data/config/runtime folders in which the course kernel is registered,
//   serving
//   a fresh folder inside the course (the kernel runs the course copy a notebook sits in); `stop`
//   shuts it down (the kernels with it) and removes the folders.
// - `openNotebook` opens a notebook through the UI and records every console message and page
//   error.
// - `runAll`, `interrupt`, `restartRunAll` press the menu items a student presses.
// - `inspectNotebook` reads what the page shows (cell errors, figures, sliders, progress bars,
//   math)
//   and returns the problems it finds per check, so a test can assert "none" for the course and
//   "this one" for a control that is broken on purpose.
import { spawn, spawnSync, type ChildProcess } from "child_process";
import { randomBytes } from "crypto";
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { createServer } from "net";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import type { Browser, ConsoleMessage, Page } from "playwright-core";
import { ROOT } from "./kernel-session";

export const PYTHON = process.env.FM_PYTHON || "/usr/bin/python3";
export const KERNEL_NAME = "flow-matching";
export const KERNEL_DISPLAY_NAME = "Flow matching (TypeScript)";

/** True where `python -m notebook` is classic Notebook 6 (what this driver knows how to press). */
export const HAVE_CLASSIC =
  spawnSync(PYTHON, [
    "-c",
    "import notebook, sys; sys.exit(0 if int(notebook.__version__.split('.')[0]) < 7 else 1)",
  ]).status === 0;

export interface ClassicServer {
  /** http://127.0.0.1:<port> */
  origin: string;
  token: string;
  /** The folder the server serves (inside the course). */
  notebooks: string;
  /** The private Jupyter data folder (kernelspecs, notebook signatures). */
  data: string;
  /** What the server wrote (its log), for failure messages. */
  log(): string;
  stop(): Promise<void>;
}

/** A free TCP port of 127.0.0.1 (for a test's own server). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const running = new Set<ChildProcess>();
// A test run that dies (an assertion in a hook, Ctrl-C) still takes its servers (and their kernels)
// down with it: SIGTERM lets the server shut its kernels down.
process.once("exit", () => {
  for (const child of running) child.kill("SIGTERM");
});

/** Starts classic Notebook on a free port of 127.0.0.1 with a private token and Jupyter folders. */
export async function startClassicServer(hangGuardMs = 120_000): Promise<ClassicServer> {
  const base = mkdtempSync(join(tmpdir(), "fm-frontend-"));
  const data = join(base, "data");
  for (const d of ["data", "config", "runtime"]) mkdirSync(join(base, d));
  mkdirSync(join(ROOT, "build"), { recursive: true });
  const notebooks = mkdtempSync(join(ROOT, "build", "frontend-test-"));
  const install = await import(pathToFileURL(join(ROOT, "scripts", "install-kernel.mjs")).href);
  install.installKernel({ quiet: true, dataDir: data });
  const token = randomBytes(24).toString("hex");
  const port = await freePort();
  const logPath = join(base, "server.log");
  const logFile = createWriteStream(logPath);
  const server = spawn(
    PYTHON,
    [
      "-m",
      "notebook",
      "--no-browser",
      "--allow-root",
      `--port=${port}`,
      "--port-retries=0",
      "--ip=127.0.0.1",
      `--NotebookApp.token=${token}`,
      "--NotebookApp.password=",
      `--notebook-dir=${notebooks}`,
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        JUPYTER_DATA_DIR: data,
        JUPYTER_CONFIG_DIR: join(base, "config"),
        JUPYTER_RUNTIME_DIR: join(base, "runtime"),
        // Only the private folders: no kernelspec or extension of the machine's user.
        JUPYTER_PATH: data,
      },
    },
  );
  running.add(server);
  server.stdout?.pipe(logFile);
  server.stderr?.pipe(logFile);
  let exited = false;
  server.once("exit", () => {
    exited = true;
    running.delete(server);
  });
  const origin = `http://127.0.0.1:${port}`;
  const log = () => {
    try {
      return readFileSync(logPath, "utf8");
    } catch {
      return "";
    }
  };
  const stop = async () => {
    if (!exited) {
      // The server's own shutdown (it shuts its kernels down), then signals if it hangs.
      await fetch(`${origin}/api/shutdown`, {
        method: "POST",
        headers: { Authorization: `token ${token}` },
      }).catch(() => undefined);
      for (let i = 0; i < 100 && !exited; i++) await new Promise((r) => setTimeout(r, 100));
      if (!exited) server.kill("SIGTERM");
      for (let i = 0; i < 100 && !exited; i++) await new Promise((r) => setTimeout(r, 100));
      if (!exited) server.kill("SIGKILL");
    }
    logFile.end();
    rmSync(base, { recursive: true, force: true });
    rmSync(notebooks, { recursive: true, force: true });
  };
  const start = Date.now();
  while (Date.now() - start < hangGuardMs) {
    if (exited) {
      const text = log();
      await stop();
      throw new Error(`the notebook server exited at start:\n${text.slice(-3000)}`);
    }
    const up = await fetch(`${origin}/api/kernelspecs`, {
      headers: { Authorization: `token ${token}` },
    }).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return { origin, token, notebooks, data, log, stop };
    await new Promise((r) => setTimeout(r, 500));
  }
  const text = log();
  await stop();
  throw new Error(`the notebook server did not answer within ${hangGuardMs} ms:\n${text}`);
}

/** A code cell or a markdown cell of a notebook written by `writeNotebook`. */
export type CellSpec = string | { markdown: string };

/** Writes a notebook with the course kernel into the server's folder. */
export function writeNotebook(server: ClassicServer, name: string, cells: CellSpec[]): void {
  const nbCells = cells.map((c) =>
    typeof c === "string"
      ? { cell_type: "code", execution_count: null, metadata: {}, outputs: [], source: c }
      : { cell_type: "markdown", metadata: {}, source: c.markdown },
  );
  const kernelspec = {
    name: KERNEL_NAME,
    display_name: KERNEL_DISPLAY_NAME,
    language: "typescript",
  };
  const nb = { cells: nbCells, metadata: { kernelspec }, nbformat: 4, nbformat_minor: 4 };
  writeFileSync(join(server.notebooks, name), JSON.stringify(nb, null, 1));
}

/** A notebook page and everything its console said. */
export interface NotebookPage {
  page: Page;
  /** Console messages of type error or warning, and uncaught page errors, in order. */
  messages: { type: string; text: string }[];
}

/**
 * Console output of classic Notebook 6.4 (Debian's) itself that is harmless, each with why.
 * Anything else of type error or warning, any uncaught page error and any 404 fails the check
 * (`consoleProblems`).
 */
export const HARMLESS_CONSOLE: { pattern: RegExp; why: string; after?: RegExp }[] = [
  {
    pattern: /^actions jupyter-notebook:find-and-replace does not exist, still binding it/,
    why:
      "the notebook binds its keyboard shortcuts before the find-and-replace action registers; " +
      "the binding works once it does (a warning of the frontend's start-up, on every page)",
  },
  {
    pattern: /^Could not cross validate the widget frontend and backend versions\. Error: Timeout/,
    why:
      "Debian enables the ipywidgets extension for every kernel; it asks the kernel for its " +
      "widget version, which a kernel without widgets (tslab) never answers. The course uses no " +
      "widgets",
  },
  {
    pattern: /^Access to font at 'about:blank' from origin '[^']*' has been blocked by CORS policy/,
    why:
      "MathJax 2 (HTML-CSS output) declares a placeholder web font MathJax_Blank at " +
      "url('about:blank'), which Chromium refuses to load; MathJax uses its real fonts",
  },
  {
    pattern: /^Failed to load resource: net::ERR_FAILED$/,
    after: /^Access to font at 'about:blank'/,
    why: "Chromium's second line for the same refused placeholder font (only right after it)",
  },
];

/** Opens `name` (a fresh browser context: nothing cached) and waits until its kernel is idle. */
export async function openNotebook(
  browser: Browser,
  server: ClassicServer,
  name: string,
  hangGuardMs = 300_000,
): Promise<NotebookPage & { notFound: string[] }> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const messages: { type: string; text: string }[] = [];
  const notFound: string[] = [];
  page.on("dialog", (d) => d.accept());
  page.on("console", (m: ConsoleMessage) => {
    if (m.type() === "error" || m.type() === "warning")
      messages.push({ type: m.type(), text: m.text() });
  });
  page.on("pageerror", (e) => messages.push({ type: "pageerror", text: String(e.stack ?? e) }));
  page.on("response", (r) => {
    if (r.status() === 404) notFound.push(new URL(r.url()).pathname);
  });
  await page.goto(`${server.origin}/notebooks/${encodeURIComponent(name)}?token=${server.token}`, {
    waitUntil: "load",
    timeout: hangGuardMs,
  });
  await waitIdle(page, hangGuardMs, false);
  return { page, messages, notFound };
}

/**
 * Waits until the kernel is connected and idle for 3 s in a row (output travels apart from the
 * reply and can come after it) and, with `allRan`, every code cell has its number (its reply came).
 */
export async function waitIdle(page: Page, hangGuardMs: number, allRan: boolean): Promise<void> {
  await page.waitForFunction(
    (all) => {
      const w = window as unknown as {
        Jupyter?: {
          notebook?: {
            kernel?: { is_connected(): boolean };
            get_cells(): { cell_type: string; input_prompt_number?: unknown }[];
          };
        };
        __fmQuiet?: number;
      };
      const nb = w.Jupyter?.notebook;
      if (!nb?.kernel?.is_connected()) return false;
      // Run All: no code cell queued or running (prompt "[*]"); whether each ran is checked by
      // inspectNotebook (a cell skipped after an error keeps no number).
      const ran =
        !all ||
        (nb.get_cells().some((c) => c.cell_type === "code") &&
          !Array.from(document.querySelectorAll(".code_cell .input_prompt")).some((e) =>
            /\[\*\]/.test(e.textContent ?? ""),
          ));
      const idle = document.querySelector("#kernel_indicator_icon.kernel_idle_icon") !== null;
      w.__fmQuiet = ran && idle ? (w.__fmQuiet ?? 0) + 1 : 0;
      return w.__fmQuiet >= 3;
    },
    allRan,
    { timeout: hangGuardMs, polling: 1000 },
  );
}

/** Presses a menu item as a student does: opens the menu, clicks the item. */
export async function menu(page: Page, menuId: string, itemId: string): Promise<void> {
  await page.click(`#${menuId}`);
  await page.click(`#${itemId}`);
}

/** Cell > Run All, then waits until every cell ran and the kernel is idle. */
export async function runAll(page: Page, hangGuardMs = 1_200_000): Promise<void> {
  await menu(page, "celllink", "run_all_cells");
  await waitIdle(page, hangGuardMs, true);
}

/** Kernel > Interrupt. */
export async function interrupt(page: Page): Promise<void> {
  await menu(page, "kernellink", "int_kernel");
}

/** Kernel > Restart & Run All (confirmed in the dialog), then waits until every cell ran. */
export async function restartRunAll(page: Page, hangGuardMs = 1_200_000): Promise<void> {
  await page.evaluate(() => {
    (window as unknown as { __fmQuiet?: number }).__fmQuiet = 0;
  });
  await menu(page, "kernellink", "restart_run_all");
  await page.click(".modal-dialog button.btn-danger");
  // The old numbers stay until each cell runs again: wait for the restart to clear them first.
  await page.waitForFunction(
    () => {
      const w = window as unknown as {
        Jupyter: {
          notebook: { get_cells(): { cell_type: string; input_prompt_number?: unknown }[] };
        };
      };
      return w.Jupyter.notebook
        .get_cells()
        .some((c) => c.cell_type === "code" && typeof c.input_prompt_number !== "number");
    },
    null,
    { timeout: 120_000, polling: 200 },
  );
  await waitIdle(page, hangGuardMs, true);
}

/** File > Save and Checkpoint, waiting for the save to finish. */
export async function save(page: Page): Promise<void> {
  const saved = page.evaluate(
    () =>
      new Promise<void>((resolve) => {
        const w = window as unknown as {
          Jupyter: { notebook: { events: { one(e: string, f: () => void): void } } };
        };
        w.Jupyter.notebook.events.one("notebook_saved.Notebook", () => resolve());
      }),
  );
  await menu(page, "filelink", "save_checkpoint");
  await saved;
}

/** One output of the page's notebook model. */
interface Output {
  output_type: string;
  text?: string;
  ename?: string;
  evalue?: string;
  data?: Record<string, unknown>;
  metadata?: Record<string, unknown>;
}

/** The outputs of every code cell, as the frontend holds them (after display updates). */
export async function cellOutputs(page: Page): Promise<Output[][]> {
  return page.evaluate(() => {
    const w = window as unknown as {
      Jupyter: {
        notebook: {
          get_cells(): { cell_type: string; output_area?: { outputs: unknown[] } }[];
        };
      };
    };
    return w.Jupyter.notebook
      .get_cells()
      .filter((c) => c.cell_type === "code")
      .map((c) => JSON.parse(JSON.stringify(c.output_area?.outputs ?? [])));
  });
}

/** The text a code cell printed (its stream outputs, joined). */
export async function printedText(page: Page, codeCell: number): Promise<string> {
  const outputs = (await cellOutputs(page))[codeCell] ?? [];
  return outputs
    .filter((o) => o.output_type === "stream")
    .map((o) => o.text ?? "")
    .join("");
}

/** What the page shows, as problems per check (empty lists: all is well). */
export interface Inspection {
  /** Number of figures (plotly outputs) in the notebook's outputs, and how many drew. */
  figures: number;
  drawn: number;
  /** Figures with frames (an animation with a slider and play buttons) and how many passed. */
  animated: number;
  /** Progress bars shown. */
  progressBars: number;
  /** Typeset formulas. */
  math: number;
  problems: {
    cells: string[];
    figures: string[];
    sliders: string[];
    progress: string[];
    math: string[];
    console: string[];
  };
}

const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/** The problems in the recorded console messages and failed requests. */
export function consoleProblems(p: NotebookPage & { notFound: string[] }): string[] {
  const problems: string[] = [];
  p.messages.forEach((m, i) => {
    const harmless = HARMLESS_CONSOLE.some(
      (h) =>
        m.type !== "pageerror" &&
        h.pattern.test(m.text) &&
        (!h.after || (i > 0 && h.after.test(p.messages[i - 1].text))),
    );
    if (!harmless) problems.push(`${m.type}: ${m.text}`);
  });
  for (const path of p.notFound) problems.push(`404: ${path}`);
  return problems;
}

/** Figure outputs: their div's id (from the HTML), frames, and the cell they belong to. */
function figureOutputs(outputs: Output[][]): { cell: number; id: string; frames: number }[] {
  const found: { cell: number; id: string; frames: number }[] = [];
  outputs.forEach((cell, k) => {
    for (const o of cell) {
      const figure = o.data?.[PLOTLY_MIME] as { frames?: unknown[] } | undefined;
      if (!figure) continue;
      const html = String(o.data?.["text/html"] ?? "");
      const id = /id="([^"]+)"/.exec(html)?.[1] ?? "";
      found.push({ cell: k, id, frames: figure.frames?.length ?? 0 });
    }
  });
  return found;
}

/**
 * Inspects the page after Run All: every check of issue 17. `expectedFigures` is the number of
 * `fm.show` calls the notebook makes (null: the figure outputs found are what is expected).
 */
export async function inspectNotebook(
  p: NotebookPage & { notFound: string[] },
  expectedFigures: number | null,
  expectMath: boolean,
  figureWaitMs = 60_000,
): Promise<Inspection> {
  const { page } = p;
  const outputs = await cellOutputs(page);
  const problems: Inspection["problems"] = {
    cells: [],
    figures: [],
    sliders: [],
    progress: [],
    math: [],
    console: [],
  };
  // Cell errors.
  // tslab reports a failing cell on stderr (and in its reply), not as an error output; the course
  // writes nothing on stderr otherwise (the build fails on it too).
  const numbers = await page.evaluate(() =>
    (
      window as unknown as {
        Jupyter: {
          notebook: { get_cells(): { cell_type: string; input_prompt_number?: unknown }[] };
        };
      }
    ).Jupyter.notebook
      .get_cells()
      .filter((c) => c.cell_type === "code")
      .map((c) => (typeof c.input_prompt_number === "number" ? c.input_prompt_number : null)),
  );
  outputs.forEach((cell, k) => {
    for (const o of cell) {
      if (o.output_type === "error") problems.cells.push(`code cell ${k}: ${o.ename}: ${o.evalue}`);
      const err = o as { name?: string };
      if (o.output_type === "stream" && err.name === "stderr") {
        problems.cells.push(`code cell ${k} wrote on stderr: ${(o.text ?? "").slice(0, 300)}`);
      }
    }
    if (numbers[k] === null) problems.cells.push(`code cell ${k} did not run`);
  });
  // Figures: one per fm.show, each drawn by plotly (its SVG present), none left with a note.
  const figs = figureOutputs(outputs);
  if (expectedFigures !== null && figs.length !== expectedFigures) {
    problems.figures.push(`${figs.length} figure outputs for ${expectedFigures} fm.show calls`);
  }
  if (figs.length) {
    // Plotly draws asynchronously (after plotly.js loads): wait for it, within a hang guard.
    await page
      .waitForFunction(
        (ids) => ids.every((id) => document.getElementById(id)?.querySelector(".main-svg")),
        figs.map((f) => f.id),
        { timeout: figureWaitMs, polling: 500 },
      )
      .catch(() => undefined);
  }
  const drawnIds = await page.evaluate(
    (ids) =>
      ids.map((id) => {
        const el = document.getElementById(id);
        return {
          id,
          exists: el !== null,
          drawn: !!el?.classList.contains("js-plotly-plot") && !!el.querySelector(".main-svg"),
          text: el && !el.querySelector(".main-svg") ? (el.textContent ?? "").slice(0, 200) : "",
        };
      }),
    figs.map((f) => f.id),
  );
  let drawn = 0;
  drawnIds.forEach((d, i) => {
    if (d.drawn) drawn++;
    else {
      const where = `figure ${i + 1} (code cell ${figs[i].cell})`;
      problems.figures.push(
        d.exists ? `${where} not drawn${d.text ? `: "${d.text}"` : ""}` : `${where}: no element`,
      );
    }
  });
  // Sliders and play buttons where a figure has frames, and the plot changes when the slider moves.
  let animated = 0;
  for (const f of figs.filter((x) => x.frames > 1)) {
    const problem = await checkSlider(page, f.id);
    if (problem) problems.sliders.push(`figure in code cell ${f.cell}: ${problem}`);
    else animated++;
  }
  // Progress bars: every one in its final state (done at its last step, or stopped, said so).
  let progressBars = 0;
  outputs.forEach((cell, k) => {
    for (const o of cell) {
      const meta = o.metadata?.["flow-matching"] as
        { progress?: { step: number; total: number; done: boolean; stopped?: string } } | undefined;
      const bar = meta?.progress;
      if (!bar) continue;
      progressBars++;
      if (!bar.done) problems.progress.push(`code cell ${k}: bar left at ${bar.step}/${bar.total}`);
      else if (bar.step !== bar.total && !bar.stopped) {
        problems.progress.push(`code cell ${k}: bar done at ${bar.step}/${bar.total}`);
      }
    }
  });
  // The DOM shows the same final state (the frontend replaced the bar's element on each update).
  const shownBars = await page.evaluate(() =>
    Array.from(document.querySelectorAll(".fm-progress")).map((e) => e.textContent ?? ""),
  );
  if (shownBars.length !== progressBars) {
    problems.progress.push(
      `${shownBars.length} bars on the page for ${progressBars} in the outputs`,
    );
  }
  for (const text of shownBars) {
    if (!/ · (done|interrupted after step \d+)/.test(text)) {
      problems.progress.push(`a bar on the page is not final: "${text.slice(0, 120)}"`);
    }
  }
  // Math: typeset by MathJax, no MathJax error, no formula left as TeX source.
  const mathState = await mathReport(page);
  if (expectMath && mathState.typeset === 0) problems.math.push("no formula typeset");
  if (mathState.errors.length)
    problems.math.push(...mathState.errors.map((e) => `MathJax error: ${e}`));
  if (mathState.raw.length)
    problems.math.push(...mathState.raw.map((r) => `TeX left as text: ${r}`));
  problems.console.push(...consoleProblems(p));
  return {
    figures: figs.length,
    drawn,
    animated,
    progressBars,
    math: mathState.typeset,
    problems,
  };
}

/** Typeset formulas, MathJax errors, and TeX left unrendered in the markdown cells. */
async function mathReport(
  page: Page,
): Promise<{ typeset: number; errors: string[]; raw: string[] }> {
  // MathJax typesets markdown after rendering, in its own queue: wait for it to go quiet.
  await page
    .waitForFunction(
      () => {
        const mj = (
          window as unknown as {
            MathJax?: { Hub?: { queue?: { pending: number; running: number } } };
          }
        ).MathJax;
        const q = mj?.Hub?.queue;
        return !!q && q.pending === 0 && q.running === 0;
      },
      null,
      { timeout: 120_000, polling: 500 },
    )
    .catch(() => undefined);
  return page.evaluate(() => {
    const rendered = Array.from(document.querySelectorAll(".text_cell_render"));
    const typeset = document.querySelectorAll(
      [".MathJax", ".MathJax_Display", "mjx-container", ".MathJax_CHTML", ".MathJax_SVG"]
        .map((m) => `.text_cell_render ${m}`)
        .join(", "),
    ).length;
    const errors = Array.from(document.querySelectorAll(".MathJax_Error, merror, .mjx-merror")).map(
      (e) => (e.textContent ?? "").slice(0, 120),
    );
    const raw: string[] = [];
    for (const r of rendered) {
      // Text outside code and outside MathJax's output that still looks like TeX.
      const clone = r.cloneNode(true) as HTMLElement;
      clone
        .querySelectorAll(
          "code, pre, script, .MathJax, .MathJax_Display, .MathJax_Preview, mjx-container",
        )
        .forEach((e) => e.remove());
      const m = /\$\$[^$]+\$\$|\$[^$\s][^$]*\\[a-zA-Z]+[^$]*\$|\\\(|\\\[/.exec(
        clone.textContent ?? "",
      );
      if (m) raw.push(m[0].slice(0, 80));
    }
    return { typeset, errors, raw };
  });
}

/**
 * Checks an animated figure: a slider and play/pause buttons are drawn, and moving the slider (a
 * click on its rail, at the far end from where it is) changes the plotted traces. Returns the
 * problem, or null.
 */
export async function checkSlider(page: Page, id: string): Promise<string | null> {
  const el = page.locator(`[id="${id}"]`);
  await el.scrollIntoViewIfNeeded();
  const parts = await el.evaluate((gd) => ({
    slider: gd.querySelectorAll(".slider-container .slider-rail-touch-rect").length,
    buttons: gd.querySelectorAll(".updatemenu-container .updatemenu-button").length,
  }));
  if (parts.slider === 0) return "no slider drawn";
  if (parts.buttons < 2) return `${parts.buttons} play/pause buttons drawn (expected 2)`;
  const snapshot = () =>
    el.evaluate((gd) => {
      const layer = gd.querySelector(".cartesianlayer") ?? gd.querySelector(".main-svg");
      // The step the slider is on, as plotly keeps it (it moves there on a click on the rail).
      const full = (
        gd as unknown as {
          _fullLayout?: { sliders?: { active: number; steps: { label?: string }[] }[] };
        }
      )._fullLayout?.sliders?.[0];
      const label = full ? String(full.steps[full.active]?.label ?? full.active) : "";
      return { traces: layer ? layer.innerHTML : "", label };
    });
  const before = await snapshot();
  const rail = el.locator(".slider-rail-touch-rect").first();
  await rail.scrollIntoViewIfNeeded();
  const box = await rail.boundingBox();
  if (!box) return "the slider has no size";
  // Plotly's slider starts at its `active` step: move to whichever end is farther.
  const active = await el.evaluate((gd) => {
    const s = (gd as unknown as { layout: { sliders: { active?: number; steps: unknown[] }[] } })
      .layout.sliders[0];
    return { active: s.active ?? 0, steps: s.steps.length };
  });
  const toStart = active.active > (active.steps - 1) / 2;
  const x = box.x + (toStart ? 0.02 : 0.98) * box.width;
  await page.mouse.click(x, box.y + box.height / 2);
  let after = before;
  for (let i = 0; i < 40; i++) {
    await page.waitForTimeout(250);
    after = await snapshot();
    if (after.traces !== before.traces) break;
  }
  if (after.label === before.label) return `the slider did not move (still "${before.label}")`;
  if (after.traces === before.traces) {
    return `moving the slider from "${before.label}" to "${after.label}" did not change the plot`;
  }
  return null;
}

/** The number of `fm.show(` calls in the code cells of a notebook file. */
export function showCalls(path: string): number {
  const nb = JSON.parse(readFileSync(path, "utf8")) as {
    cells: { cell_type: string; source: string | string[] }[];
  };
  let n = 0;
  for (const c of nb.cells) {
    if (c.cell_type !== "code") continue;
    const src = Array.isArray(c.source) ? c.source.join("") : c.source;
    n += (src.match(/\bfm\.show\(/g) ?? []).length;
  }
  return n;
}

/** The index among code cells of the one code cell of a notebook file whose source holds `text`. */
export function codeCellWith(path: string, text: string): number {
  const nb = JSON.parse(readFileSync(path, "utf8")) as {
    cells: { cell_type: string; source: string | string[] }[];
  };
  const code = nb.cells
    .filter((c) => c.cell_type === "code")
    .map((c) => (Array.isArray(c.source) ? c.source.join("") : c.source));
  const found = code.flatMap((src, k) => (src.includes(text) ? [k] : []));
  if (found.length !== 1) {
    throw new Error(`${path}: ${found.length} code cells hold "${text}"; expected exactly one`);
  }
  return found[0];
}

/** True when the notebook's markdown holds TeX ($...$ or $$...$$). */
export function hasMath(path: string): boolean {
  const nb = JSON.parse(readFileSync(path, "utf8")) as {
    cells: { cell_type: string; source: string | string[] }[];
  };
  return nb.cells.some((c) => {
    const src = Array.isArray(c.source) ? c.source.join("") : c.source;
    return c.cell_type === "markdown" && /\$[^$]+\$/.test(src);
  });
}

/** The kernel the page runs: its name and the display name the toolbar shows. */
export async function kernelShown(page: Page): Promise<{ name: string; display: string }> {
  return page.evaluate(() => {
    const w = window as unknown as { Jupyter: { notebook: { kernel: { name: string } } } };
    return {
      name: w.Jupyter.notebook.kernel.name,
      display: document.querySelector(".kernel_indicator_name")?.textContent?.trim() ?? "",
    };
  });
}

/** The notebook-wide index of code cell `k` (markdown cells counted). */
export async function cellIndexOfCode(page: Page, k: number): Promise<number> {
  return page.evaluate((k) => {
    const w = window as unknown as {
      Jupyter: { notebook: { get_cells(): { cell_type: string }[] } };
    };
    let seen = -1;
    const cells = w.Jupyter.notebook.get_cells();
    for (let i = 0; i < cells.length; i++) {
      if (cells[i].cell_type === "code" && ++seen === k) return i;
    }
    throw new Error(`the notebook has no code cell ${k}`);
  }, k);
}

/** Selects a cell (notebook-wide index), as a click on it does. */
export async function selectCell(page: Page, index: number): Promise<void> {
  await page.evaluate((i) => {
    const w = window as unknown as { Jupyter: { notebook: { select(i: number): void } } };
    w.Jupyter.notebook.select(i);
  }, index);
}

/** True while the cell (notebook-wide index) is queued or running (its prompt shows `*`). */
export async function cellBusy(page: Page, index: number): Promise<boolean> {
  return page.evaluate((i) => {
    const w = window as unknown as {
      Jupyter: { notebook: { get_cell(i: number): { element: ArrayLike<HTMLElement> } } };
    };
    const prompt = w.Jupyter.notebook.get_cell(i).element[0].querySelector(".input_prompt");
    return /\[\*\]/.test(prompt?.textContent ?? "");
  }, index);
}

/** The page's classic Notebook, as far as reading one cell's outputs (of type `O`) goes. */
type CellOutputsWindow<O> = {
  Jupyter: { notebook: { get_cell(i: number): { output_area: { outputs: O[] } } } };
};

/** The step a cell's progress bar last showed (0 before it showed one). */
export async function progressStep(page: Page, index: number): Promise<number> {
  return page.evaluate((i) => {
    const w = window as unknown as CellOutputsWindow<{
      metadata?: Record<string, { progress?: { step: number } }>;
    }>;
    const outputs = w.Jupyter.notebook.get_cell(i).output_area.outputs;
    let step = 0;
    for (const o of outputs) step = o.metadata?.["flow-matching"]?.progress?.step ?? step;
    return step;
  }, index);
}

/**
 * Runs the selected cell (Cell > Run Cells), waits until its progress bar passes `afterStep`, then
 * presses Kernel > Interrupt and measures how long the cell takes to stop (null: still running
 * after `limitMs`). The error the cell shows is returned with it.
 */
export async function interruptMidway(
  page: Page,
  index: number,
  afterStep: number,
  limitMs: number,
  hangGuardMs = 1_200_000,
): Promise<{ step: number; stoppedMs: number | null; error: string }> {
  await selectCell(page, index);
  await menu(page, "celllink", "run_cell");
  const start = Date.now();
  let step = 0;
  while ((step = await progressStep(page, index)) < afterStep) {
    if (Date.now() - start > hangGuardMs) throw new Error(`no progress past step ${step}`);
    if (!(await cellBusy(page, index))) throw new Error(`the cell ended before step ${afterStep}`);
    await page.waitForTimeout(200);
  }
  await interrupt(page);
  const pressed = Date.now();
  let stoppedMs: number | null = null;
  while (Date.now() - pressed < limitMs) {
    if (!(await cellBusy(page, index))) {
      stoppedMs = Date.now() - pressed;
      break;
    }
    await page.waitForTimeout(100);
  }
  // Output travels apart from the reply: let it arrive (the kernel idle for 3 s).
  if (stoppedMs !== null) await waitIdle(page, hangGuardMs, false);
  const shown = await cellText(page, index);
  const error = shown.error || shown.stderr;
  return { step, stoppedMs, error };
}

/**
 * Inserts a code cell below the cell `index` (as Insert > Insert Cell Below and typing it do), runs
 * it and waits for the kernel to be idle. Returns its new index.
 */
export async function runNewCellBelow(
  page: Page,
  index: number,
  code: string,
  hangGuardMs = 600_000,
): Promise<number> {
  const at = await page.evaluate(
    ({ i, code }) => {
      const w = window as unknown as {
        Jupyter: {
          notebook: {
            insert_cell_below(type: string, i: number): { set_text(t: string): void };
            find_cell_index(c: unknown): number;
          };
        };
      };
      const cell = w.Jupyter.notebook.insert_cell_below("code", i);
      cell.set_text(code);
      return w.Jupyter.notebook.find_cell_index(cell);
    },
    { i: index, code },
  );
  await selectCell(page, at);
  await menu(page, "celllink", "run_cell");
  await page.waitForFunction(
    (i) => {
      const w = window as unknown as {
        Jupyter: { notebook: { get_cell(i: number): { input_prompt_number?: unknown } } };
      };
      return typeof w.Jupyter.notebook.get_cell(i).input_prompt_number === "number";
    },
    at,
    { timeout: hangGuardMs, polling: 500 },
  );
  await waitIdle(page, hangGuardMs, false);
  return at;
}

/** Deletes the cell `index` (Edit > Delete Cells). */
export async function deleteCell(page: Page, index: number): Promise<void> {
  await selectCell(page, index);
  await menu(page, "editlink", "delete_cell");
}

/** Cell > Run All Above the cell `index`, waiting until they ran. */
export async function runAllAbove(page: Page, index: number, hangGuardMs = 1_200_000) {
  await selectCell(page, index);
  await menu(page, "celllink", "run_all_cells_above");
  await page.waitForFunction(
    (i) => {
      const w = window as unknown as {
        Jupyter: {
          notebook: { get_cells(): { cell_type: string; input_prompt_number?: unknown }[] };
        };
      };
      return w.Jupyter.notebook
        .get_cells()
        .slice(0, i)
        .every((c) => c.cell_type !== "code" || typeof c.input_prompt_number === "number");
    },
    index,
    { timeout: hangGuardMs, polling: 1000 },
  );
  await waitIdle(page, hangGuardMs, false);
}

/** True when the frontend trusts the open notebook (it then runs the scripts of its outputs). */
export async function isTrusted(page: Page): Promise<boolean> {
  return page.evaluate(
    () =>
      (window as unknown as { Jupyter: { notebook: { trusted: boolean } } }).Jupyter.notebook
        .trusted,
  );
}

/** What the cell (notebook-wide index) printed, and its error as "name: value" ("" if none). */
export async function cellText(
  page: Page,
  index: number,
): Promise<{ text: string; stderr: string; error: string }> {
  return page.evaluate((i) => {
    const w = window as unknown as CellOutputsWindow<{
      output_type: string;
      name?: string;
      text?: string;
      ename?: string;
      evalue?: string;
    }>;
    const outputs = w.Jupyter.notebook.get_cell(i).output_area.outputs;
    const stream = (name: string) =>
      outputs
        .map((o) => (o.output_type === "stream" && o.name === name ? (o.text ?? "") : ""))
        .join("");
    const e = outputs.find((o) => o.output_type === "error");
    return {
      text: stream("stdout"),
      stderr: stream("stderr"),
      error: e ? `${e.ename}: ${e.evalue}` : "",
    };
  }, index);
}

/** The JSON object on the last printed line of the cell (notebook-wide index). */
export async function lastJson(page: Page, index: number): Promise<unknown> {
  const { text, stderr, error } = await cellText(page, index);
  const last = text.trim().split("\n").pop() ?? "";
  try {
    return JSON.parse(last);
  } catch {
    const why = error || stderr || JSON.stringify(last);
    throw new Error(`cell ${index} printed no JSON last (${why})`);
  }
}
