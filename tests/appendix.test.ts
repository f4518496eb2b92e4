// A notebook's appendix (scripts/appendix.mjs, scripts/run_notebook.py): the cells from "##
// Appendix" on
// are tagged `appendix` and carry the collapse metadata Jupyter front ends read; the course build
// refuses
// a notebook whose appendix is not; its HTML page shows the appendix as a closed <details> element,
// whose
// plots and formulas are drawn and appear when the reader opens it (headless Chromium).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import type { Browser } from "playwright-core";
import { launchChromium } from "./browser-page";
import { figureBundle } from "../src/notebook/display";
import { plotPoints } from "../src/figures/points";

const ROOT = join(__dirname, "..");
const NOTEBOOKS = join(ROOT, "notebooks");
const PYTHON = process.env.FM_PYTHON || "/usr/bin/python3";

type Cell = {
  cell_type: string;
  source: string;
  metadata: Record<string, unknown>;
  outputs?: unknown[];
  execution_count?: number | null;
};
type Nb = {
  cells: Cell[];
  metadata: Record<string, unknown>;
  nbformat: number;
  nbformat_minor: number;
};
interface Appendix {
  appendixProblems(nb: Nb): string[];
  applyAppendix(nb: Nb): Nb;
  appendixStart(nb: Nb): number;
}
const load = async () =>
  (await import(pathToFileURL(join(ROOT, "scripts", "appendix.mjs")).href)) as Appendix;

const md = (source: string, metadata: Record<string, unknown> = {}): Cell => ({
  cell_type: "markdown",
  source,
  metadata,
});
const code = (
  source: string,
  metadata: Record<string, unknown> = {},
  outputs: unknown[] = [],
): Cell => ({
  cell_type: "code",
  source,
  metadata,
  outputs,
  execution_count: null,
});
const notebook = (cells: Cell[]): Nb => ({ cells, metadata: {}, nbformat: 4, nbformat_minor: 5 });

describe("the appendix metadata", () => {
  const raw = () =>
    notebook([
      md("# Title"),
      code("1"),
      md("## Summary"),
      md("## Appendix\nNotes."),
      code("2"),
      md("### Tolerances\n$x$"),
    ]);

  it("tags and collapses each cell from ## Appendix on; the heading folds it", async () => {
    const { applyAppendix, appendixProblems } = await load();
    const nb = applyAppendix(raw());
    expect(
      nb.cells.slice(0, 3).every((c) => !JSON.stringify(c.metadata).includes("appendix")),
    ).toBe(true);
    expect(nb.cells[3].metadata).toEqual({
      tags: ["appendix"],
      "jp-MarkdownHeadingCollapsed": true,
      heading_collapsed: true,
    });
    expect(nb.cells[4].metadata).toEqual({
      tags: ["appendix"],
      collapsed: true,
      jupyter: { source_hidden: true, outputs_hidden: true },
    });
    expect(nb.cells[5].metadata).toEqual({ tags: ["appendix"], jupyter: { source_hidden: true } });
    expect(appendixProblems(nb)).toEqual([]);
    // idempotent
    const again = applyAppendix(JSON.parse(JSON.stringify(nb)));
    expect(JSON.stringify(again)).toBe(JSON.stringify(nb));
  });

  it("names untagged, uncollapsed and misplaced cells (negative controls)", async () => {
    const { applyAppendix, appendixProblems } = await load();
    expect(appendixProblems(raw())).toEqual([
      'cell 4 ("## Appendix") is in the appendix but not tagged "appendix"',
      'cell 5 ("2") is in the appendix but not tagged "appendix"',
      'cell 6 ("### Tolerances") is in the appendix but not tagged "appendix"',
    ]);
    const uncollapsed = applyAppendix(raw());
    delete (uncollapsed.cells[4].metadata.jupyter as Record<string, unknown>).outputs_hidden;
    expect(appendixProblems(uncollapsed)).toEqual([
      'cell 5 ("2") is in the appendix but not collapsed',
    ]);
    const early = applyAppendix(raw());
    early.cells[1].metadata.tags = ["appendix"];
    expect(appendixProblems(early)).toEqual([
      'cell 2 ("1") is tagged "appendix" but comes before any "## Appendix" cell',
    ]);
    const twice = applyAppendix(raw());
    twice.cells.push(
      md("## Appendix again", { tags: ["appendix"], jupyter: { source_hidden: true } }),
    );
    expect(appendixProblems(twice)).toEqual(['more than one cell opens with "## Appendix"']);
    expect(appendixProblems(notebook([md("# No appendix"), code("1")]))).toEqual([]);
  });

  it("holds in every course notebook (the build refuses one where it does not)", async () => {
    const { appendixProblems } = await load();
    for (const f of readdirSync(NOTEBOOKS).filter((n) => n.endsWith(".ipynb"))) {
      const nb = JSON.parse(readFileSync(join(NOTEBOOKS, f), "utf8")) as Nb;
      expect({ notebook: f, problems: appendixProblems(nb) }).toEqual({
        notebook: f,
        problems: [],
      });
    }
  });
});

describe("the appendix on the HTML page", () => {
  let browser: Browser;
  let dir: string;
  beforeAll(async () => {
    browser = await launchChromium();
    dir = mkdtempSync(join(tmpdir(), "fm-appendix-"));
  });
  afterAll(async () => {
    await browser?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** The page the build writes for an executed notebook (run_notebook.py's export_html). */
  function page(nb: Nb, name: string): string {
    const src = join(dir, `${name}.ipynb`);
    const html = join(dir, `${name}.html`);
    writeFileSync(src, JSON.stringify(nb));
    const q = JSON.stringify;
    const script =
      `import sys; sys.path.insert(0, ${q(join(ROOT, "scripts"))}); ` +
      "import nbformat, run_notebook; " +
      `run_notebook.export_html(nbformat.read(${q(src)}, as_version=4), ${q(html)})`;
    const r = spawnSync(PYTHON, ["-c", script], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    return pathToFileURL(html).href;
  }
  const figureOutput = (divId: string, embed: boolean) => ({
    output_type: "display_data",
    metadata: {},
    data: figureBundle(
      plotPoints(
        [
          [0, 0],
          [1, 1],
        ],
        { title: "points" },
      ),
      { divId, embedPlotly: embed },
    ).data,
  });
  const executed = () =>
    notebook([
      md("# Title\nThe main path, with $x_t$."),
      code("fm.show(a)", {}, [figureOutput("main-plot", true)]),
      md("## Appendix\nThe ledger."),
      code("fm.show(b)", {}, [figureOutput("appendix-plot", false)]),
      md("### Tolerances\nFloat32 rounds at $2^{-24}$."),
    ]);

  interface State {
    details: number;
    open: boolean;
    mainVisible: boolean;
    appendixVisible: boolean[];
    plots: number;
    drawn: number;
    insideDrawn: number;
  }
  async function state(url: string, open = false): Promise<State> {
    const p = await browser.newPage();
    const errors: string[] = [];
    p.on("pageerror", (e) => errors.push(e.message));
    await p.route(/^https?:/, (route) => route.abort("blockedbyclient"));
    try {
      await p.goto(url, { waitUntil: "load" });
      await p.waitForFunction(
        () => document.querySelectorAll(".js-plotly-plot .main-svg").length >= 2,
        null,
        { timeout: 20_000 },
      );
      if (open) {
        await p.click("details.fm-appendix > summary");
        await p.waitForTimeout(300);
      }
      const s = await p.evaluate(() => {
        const d = document.querySelector("details.fm-appendix") as HTMLDetailsElement | null;
        const cells = Array.from(document.querySelectorAll(".jp-Cell")) as HTMLElement[];
        const inside = cells.filter((c) => d?.contains(c));
        return {
          details: document.querySelectorAll("details.fm-appendix").length,
          open: !!d?.open,
          mainVisible: cells[0].checkVisibility(),
          appendixVisible: inside.map((c) => c.checkVisibility()),
          plots: document.querySelectorAll(".js-plotly-plot").length,
          drawn: document.querySelectorAll(".js-plotly-plot:has(.main-svg)").length,
          insideDrawn: d ? d.querySelectorAll(".js-plotly-plot:has(.main-svg)").length : 0,
        };
      });
      expect(errors).toEqual([]);
      return s;
    } finally {
      await p.close();
    }
  }

  it("is one closed <details> holding just the appendix cells, with its plot drawn", async () => {
    const url = page((await load()).applyAppendix(executed()), "tagged");
    const closed = await state(url);
    expect(closed).toMatchObject({
      details: 1,
      open: false,
      mainVisible: true,
      appendixVisible: [false, false, false],
      plots: 2,
      drawn: 2,
      insideDrawn: 1,
    });
    const opened = await state(url, true);
    expect(opened).toMatchObject({
      open: true,
      appendixVisible: [true, true, true],
      insideDrawn: 1,
    });
  }, 60_000);

  it("is absent from a page whose notebook tags no appendix cell (negative control)", async () => {
    const s = await state(
      page(notebook(executed().cells.map((c) => ({ ...c, metadata: {} }))), "untagged"),
    );
    expect(s).toMatchObject({
      details: 0,
      mainVisible: true,
      appendixVisible: [],
      plots: 2,
      drawn: 2,
    });
  }, 60_000);
});
