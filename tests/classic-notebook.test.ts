// Classic Jupyter Notebook (Debian's 6.4) in headless Chromium, the course kernel registered as
// `npm install` registers it: Run All of a notebook that prints 600 lines and shows two figures,
// save, reload. Figures draw in the live session and after the reload of the (trusted) notebook,
// with plotly.js served by Jupyter from the copy installed with the kernel, so the saved notebook
// stays small. Negative control: without that copy the figures say what is missing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, spawnSync, type ChildProcess } from "child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "./browser-page";
import { freePort } from "./frontend-driver";
import { ROOT, numberedLines, printLines } from "./kernel-session";
import { plotlyJupyterPath } from "../src/notebook/display";

const PYTHON = process.env.FM_PYTHON || "/usr/bin/python3";
const HAVE_CLASSIC =
  spawnSync(PYTHON, [
    "-c",
    "import notebook, sys; sys.exit(0 if int(notebook.__version__.split('.')[0]) < 7 else 1)",
  ]).status === 0;

// Skipped where classic Notebook is missing, except in CI, where `npm test`'s pretest
// (scripts/ensure-system.mjs) installs it: there a missing one is a failure, not a skip.
describe.runIf(!HAVE_CLASSIC && Boolean(process.env.CI))("classic Notebook in CI", () => {
  it("is installed", () => {
    expect.fail(
      `classic Jupyter Notebook (6.x) is missing for ${PYTHON}; ensure-system installs it`,
    );
  });
});

const NAME = "figures.ipynb";
const CELLS = [
  'import * as fm from "./src/index"; await fm.initBackend();',
  'fm.show(fm.plotPoints([[0, 0], [1, 1], [2, 0.5]], { title: "three points" }));',
  printLines("line", 600),
  'fm.show(fm.plotPoints([[0, 1], [1, 0]], { title: "two points" }));',
];

let base = "";
let notebooks = "";
let data = "";
let server: ChildProcess | null = null;
let url = "";
let browser: Browser;

beforeAll(async () => {
  if (!HAVE_CLASSIC) return;
  base = mkdtempSync(join(tmpdir(), "fm-classic-"));
  data = join(base, "data");
  // The notebook must sit inside the course (the kernel runs the course copy around it).
  notebooks = mkdtempSync(join(ROOT, "build", "classic-test-"));
  const install = await import(pathToFileURL(join(ROOT, "scripts", "install-kernel.mjs")).href);
  install.installKernel({ quiet: true, dataDir: data });
  const cells = CELLS.map((source) => ({
    cell_type: "code",
    execution_count: null,
    metadata: {},
    outputs: [],
    source,
  }));
  const kernelspec = { name: "flow-matching", display_name: "Flow matching (TypeScript)" };
  const nb = { cells, metadata: { kernelspec }, nbformat: 4, nbformat_minor: 4 };
  writeFileSync(join(notebooks, NAME), JSON.stringify(nb));
  const port = await freePort();
  for (const d of ["config", "runtime"]) mkdirSync(join(base, d));
  server = spawn(
    PYTHON,
    [
      "-m",
      "notebook",
      "--no-browser",
      "--allow-root",
      `--port=${port}`,
      "--ip=127.0.0.1",
      "--NotebookApp.token=",
      "--NotebookApp.password=",
      `--notebook-dir=${notebooks}`,
    ],
    {
      stdio: "ignore",
      env: {
        ...process.env,
        JUPYTER_DATA_DIR: data,
        JUPYTER_CONFIG_DIR: join(base, "config"),
        JUPYTER_RUNTIME_DIR: join(base, "runtime"),
      },
    },
  );
  url = `http://127.0.0.1:${port}/notebooks/${NAME}`;
  browser = await launchChromium();
  for (let i = 0; i < 120; i++) {
    const up = await fetch(`http://127.0.0.1:${port}/api`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error("the notebook server did not start within 60 s");
}, 120_000);

afterAll(async () => {
  await browser?.close();
  server?.kill("SIGTERM");
  if (base) rmSync(base, { recursive: true, force: true });
  if (notebooks) rmSync(notebooks, { recursive: true, force: true });
});

/** Opens the notebook (in a fresh browser context: nothing cached) and waits for its kernel. */
async function open(): Promise<Page> {
  const page = await (await browser.newContext()).newPage();
  page.on("dialog", (d) => d.accept());
  await page.goto(url, { waitUntil: "load", timeout: 120_000 });
  await page.waitForFunction(
    () => {
      const w = window as unknown as {
        Jupyter?: { notebook?: { kernel?: { is_connected(): boolean } } };
      };
      return w.Jupyter?.notebook?.kernel?.is_connected() === true;
    },
    null,
    { timeout: 240_000 },
  );
  return page;
}

/** Figures drawn by plotly, and the text of those that were not. */
async function figures(page: Page): Promise<{ drawn: number; notes: string[] }> {
  await page
    .waitForFunction((n) => document.querySelectorAll(".fm-figure.js-plotly-plot").length >= n, 2, {
      timeout: 30_000,
    })
    .catch(() => undefined);
  return page.evaluate(() => ({
    drawn: document.querySelectorAll(".fm-figure.js-plotly-plot").length,
    notes: Array.from(document.querySelectorAll(".fm-figure:not(.js-plotly-plot)")).map(
      (d) => d.textContent ?? "",
    ),
  }));
}

describe.skipIf(!HAVE_CLASSIC)("classic Notebook with the course kernel", () => {
  let saved = 0;
  let savedText = "";

  it("runs all cells (600 lines included), draws the figures, saves a small notebook", async () => {
    const page = await open();
    await page.evaluate(() => {
      const w = window as unknown as { Jupyter: { notebook: { execute_all_cells(): void } } };
      w.Jupyter.notebook.execute_all_cells();
    });
    // Done: every cell numbered (its reply came) and the kernel idle for 3 s in a row (its output
    // came: output travels apart from the reply and can arrive after it).
    await page.waitForFunction(
      () => {
        const w = window as unknown as {
          Jupyter: { notebook: { get_cells(): { input_prompt_number?: unknown }[] } };
          __quiet?: number;
        };
        const done = w.Jupyter.notebook
          .get_cells()
          .every((c) => typeof c.input_prompt_number === "number");
        const idle = document.querySelector("#kernel_indicator_icon.kernel_idle_icon") !== null;
        w.__quiet = done && idle ? (w.__quiet ?? 0) + 1 : 0;
        return w.__quiet >= 3;
      },
      null,
      { timeout: 600_000, polling: 1000 },
    );
    const printed = await page.evaluate(() => {
      const w = window as unknown as {
        Jupyter: {
          notebook: { get_cell(i: number): { output_area: { outputs: { text?: string }[] } } };
        };
      };
      return w.Jupyter.notebook
        .get_cell(2)
        .output_area.outputs.map((o) => o.text ?? "")
        .join("");
    });
    expect(printed).toBe(numberedLines("line", 600));
    expect(await figures(page)).toEqual({ drawn: 2, notes: [] });
    await page.evaluate(
      () =>
        new Promise<void>((resolve) => {
          const w = window as unknown as {
            Jupyter: {
              notebook: { save_notebook(): void; events: { one(e: string, f: () => void): void } };
            };
          };
          w.Jupyter.notebook.events.one("notebook_saved.Notebook", () => resolve());
          w.Jupyter.notebook.save_notebook();
        }),
    );
    await page.context().close();
    saved = statSync(join(notebooks, NAME)).size;
    savedText = readFileSync(join(notebooks, NAME), "utf8");
    expect(savedText).not.toContain("plotly.js v"); // the bundle's header: not saved
    expect(saved).toBeLessThan(100_000); // with plotly.js inside it was over 4.8 MB
  }, 900_000);

  it("draws the figures again after the saved, trusted notebook is reloaded", async () => {
    expect(saved).toBeGreaterThan(0);
    const page = await open();
    expect(await figures(page)).toEqual({ drawn: 2, notes: [] });
    await page.context().close();
  }, 300_000);

  it("says what is missing where plotly.js is not installed (negative control)", async () => {
    rmSync(join(data, plotlyJupyterPath().replace(/^kernelspecs/, "kernels")));
    const page = await open();
    const shown = await figures(page);
    expect(shown.drawn).toBe(0);
    expect(shown.notes).toHaveLength(2);
    expect(shown.notes[0]).toContain("plotly.js could not be loaded from this Jupyter server");
    await page.context().close();
  }, 300_000);
});
