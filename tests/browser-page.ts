// Opening a page in headless Chromium and reporting what rendered and what went wrong
// (used by tests/browser.test.ts; not a test file itself).
import { existsSync } from "fs";
import { chromium, Browser } from "playwright-core";

export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

export function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM}. Install it (Debian: apt-get install chromium) or set ` +
        `CHROMIUM_PATH.`,
    );
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

export interface PageReport {
  /** Elements plotly turned into plots (`.js-plotly-plot`). */
  plots: number;
  /** Plots that drew their SVG (`.js-plotly-plot .main-svg` present). */
  drawn: number;
  /**
   * JavaScript errors: page errors, console errors, failed requests other than missing local files.
   */
  errors: string[];
  /**
   * Local files the page asked for that do not exist (optional assets, e.g. the template's
   * MathJax).
   */
  missingLocal: string[];
  /** Formulas MathJax typeset (`.MathJax_CHTML`, `.MathJax`, `mjx-container` elements). */
  math: number;
}

const MATH_SELECTOR = ".MathJax_CHTML, .MathJax, mjx-container";

/**
 * Opens `url` (network requests other than file:// are refused: the pages must be self-contained),
 * waits until `expectedPlots` plots have drawn (and, with `expectMath`, MathJax has typeset a
 * formula) or `timeoutMs` passes, and reports.
 */
export async function inspectPage(
  browser: Browser,
  url: string,
  expectedPlots: number,
  timeoutMs = 120_000,
  expectMath = false,
): Promise<PageReport> {
  const page = await browser.newPage();
  const errors: string[] = [];
  const missingLocal: string[] = [];
  let consoleMissing = 0;
  await page.route(/^https?:/, (route) => route.abort("blockedbyclient"));
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("requestfailed", (r) => {
    const failure = r.failure()?.errorText ?? "";
    if (r.url().startsWith("file:") && failure === "net::ERR_FILE_NOT_FOUND")
      missingLocal.push(r.url());
    else errors.push(`request failed: ${r.url()} (${failure})`);
  });
  page.on("console", (m) => {
    if (m.type() !== "error") return;
    // Chromium logs each missing file once more as a console error; those are matched below.
    if (m.text() === "Failed to load resource: net::ERR_FILE_NOT_FOUND") consoleMissing++;
    else errors.push(`console error: ${m.text()}`);
  });
  try {
    await page.goto(url, { waitUntil: "load", timeout: timeoutMs });
    await page
      .waitForFunction(
        (n) => document.querySelectorAll(".js-plotly-plot").length >= n,
        expectedPlots,
        { timeout: timeoutMs },
      )
      .catch(() => undefined);
    if (expectMath) {
      await page
        .waitForFunction((sel) => document.querySelectorAll(sel).length > 0, MATH_SELECTOR, {
          timeout: timeoutMs,
        })
        .catch(() => undefined);
    }
    // Let late scripts (and any error they throw) finish.
    await page.waitForTimeout(500);
    const plots = await page.locator(".js-plotly-plot").count();
    const drawn = await page.locator(".js-plotly-plot:has(.main-svg)").count();
    if (consoleMissing > missingLocal.length)
      errors.push(`${consoleMissing - missingLocal.length} resource(s) failed to load`);
    const math = await page.locator(MATH_SELECTOR).count();
    return { plots, drawn, errors, missingLocal, math };
  } finally {
    await page.close();
  }
}
