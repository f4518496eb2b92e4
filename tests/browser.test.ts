// Real browser: every notebook's exported HTML page (build/) opened in headless Chromium renders
// one plot per `show` call and logs no JavaScript error (missing optional local assets aside).
// Plus the checker's own negative controls on small synthetic pages.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import type { Browser } from "playwright-core";
import { launchChromium, inspectPage } from "./browser-page";
import { HAVE_RUNNER, courseBuilds, plotlyOutputs } from "./course";
import { figureBundle } from "../src/notebook/display";
import { plotPoints } from "../src/figures/points";
import { plotPath } from "../src/figures/path";

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
const tempDirs: string[] = [];
afterAll(async () => {
  await browser?.close();
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/** Debian's HTML template loads these local files (installed by npm test's pretest step). */
const DEBIAN_PAGE_ASSETS = [
  "/usr/share/javascript/mathjax/MathJax.js",
  "/usr/share/javascript/requirejs/require.min.js",
].every((f) => existsSync(f));

/** True when a notebook's markdown has LaTeX ($...$). */
function notebookHasMath(path: string): boolean {
  const nb = JSON.parse(readFileSync(path, "utf8")) as {
    cells: { cell_type: string; source: string | string[] }[];
  };
  return nb.cells.some(
    (c) => c.cell_type === "markdown" && /\$[^$]+\$/.test([c.source].flat().join("")),
  );
}

const fig = plotPoints(
  [
    [0, 0],
    [1, 1],
    [2, 0.5],
  ],
  { title: "three points" },
);
const animated = plotPath(
  [0, 1].map((t) => ({
    t,
    particles: [
      [t, 0],
      [0, t],
    ],
  })),
);

/** A page made of figure outputs as the HTML export writes them: their text/html, in order. */
function page(parts: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), "fm-browser-"));
  tempDirs.push(dir);
  const file = join(dir, "page.html");
  writeFileSync(
    file,
    `<!DOCTYPE html><html><head><meta ` +
      `charset="utf-8"></head><body>${parts.join("\n")}</body></html>`,
  );
  return pathToFileURL(file).href;
}

describe("the page checker", () => {
  it("counts every plot of a page that embeds plotly.js once", async () => {
    const html = [
      figureBundle(fig, { embedPlotly: true, divId: "a" }).data["text/html"] as string,
      figureBundle(fig, { divId: "b" }).data["text/html"] as string,
      figureBundle(animated, { divId: "c" }).data["text/html"] as string,
    ];
    const report = await inspectPage(browser, page(html), 3);
    expect(report).toMatchObject({ plots: 3, drawn: 3, errors: [] });
  });
  it("sees the plots missing when plotly.js was never embedded (negative control)", async () => {
    const html = [figureBundle(fig, { divId: "a" }).data["text/html"] as string];
    const report = await inspectPage(browser, page(html), 1, 2_000);
    expect(report.plots).toBe(0);
  }, 300_000);
  it(
    "reports script errors and remote requests, and tolerates missing local files (negative " +
      "controls)",
    async () => {
      const report = await inspectPage(
        browser,
        page([
          "<script>throw new Error('boom')</script>",
          "<script>console.error('bad thing')</script>",
          '<script src="https://cdn.example.org/x.js"></script>',
          '<script src="file:///nonexistent/optional.js"></script>',
        ]),
        0,
      );
      expect(report.errors.some((e) => e.includes("page error: boom"))).toBe(true);
      expect(report.errors.some((e) => e.includes("console error: bad thing"))).toBe(true);
      expect(
        report.errors.some((e) => e.includes("request failed: https://cdn.example.org/x.js")),
      ).toBe(true);
      expect(report.missingLocal).toEqual(["file:///nonexistent/optional.js"]);
      expect(report.errors.filter((e) => e.includes("optional.js"))).toEqual([]);
    },
  );
});

describe("the math check", () => {
  it.skipIf(!DEBIAN_PAGE_ASSETS)(
    "sees formulas typeset by the local MathJax, and none without it (negative control)",
    async () => {
      const mathjax =
        "<script " +
        'src="file:///usr/share/javascript/mathjax/MathJax.js' +
        '?config=TeX-AMS_CHTML-full,Safe"></script>' +
        "<script>MathJax.Hub.Config({ tex2jax: { inlineMath: [['$', '$']] } });</script>";
      const withMath = await inspectPage(
        browser,
        page([mathjax, "<p>the path $x_t = t x_1 + (1 - t) x_0$</p>"]),
        0,
        120_000,
        true,
      );
      expect(withMath.math).toBeGreaterThan(0);
      expect(withMath.missingLocal).toEqual([]);
      const without = await inspectPage(
        browser,
        page(["<p>the path $x_t = t x_1 + (1 - t) x_0$</p>"]),
        0,
        2_000,
        true,
      );
      expect(without.math).toBe(0);
    },
    300_000,
  );
});

describe("the course's HTML pages", () => {
  it.skipIf(!HAVE_RUNNER)(
    "render one plot per show() call, with no JavaScript error (needs scripts/notebooks.mjs)",
    async () => {
      const builds = await courseBuilds();
      expect(builds.length).toBeGreaterThan(0);
      for (const b of builds) {
        const expected = plotlyOutputs(b.executedPath);
        const hasMath = notebookHasMath(b.executedPath);
        const report = await inspectPage(
          browser,
          pathToFileURL(b.htmlPath).href,
          expected,
          120_000,
          hasMath,
        );
        expect({
          notebook: b.stem,
          plots: report.plots,
          drawn: report.drawn,
          errors: report.errors,
        }).toEqual({
          notebook: b.stem,
          plots: expected,
          drawn: expected,
          errors: [],
        });
        // Debian's nbconvert links MathJax and require.js locally (npm test installs them there):
        // every asset must load and every notebook with LaTeX must show typeset formulas, not raw
        // $...$.
        if (DEBIAN_PAGE_ASSETS) {
          expect({ notebook: b.stem, missing: report.missingLocal }).toEqual({
            notebook: b.stem,
            missing: [],
          });
          if (hasMath)
            expect({ notebook: b.stem, typeset: report.math > 0 }).toEqual({
              notebook: b.stem,
              typeset: true,
            });
        }
      }
    },
    1_800_000,
  );
});
