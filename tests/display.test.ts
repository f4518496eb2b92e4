// show() and progress(): the display bundle outside a kernel, and the messages sent inside one
// (a stand-in for tslab's display writer, installed where tslab keeps it).
import { afterEach, describe, expect, it, vi } from "vitest";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import {
  DisplayBundle,
  PLOTLY_MIME,
  figureBundle,
  inKernel,
  plotlyBundle,
  plotlyJupyterPath,
  plotlyVersion,
  scriptJson,
  show,
  showMarkdown,
} from "../src/notebook/display";
import { lossSparkline, progress } from "../src/notebook/progress";
import { plotPoints } from "../src/figures/points";

// The tests run as CommonJS-compatible modules: `require` and its cache are Node's own.
const JUPYTER = require.resolve("tslab/dist/jupyter");

interface Sent {
  content: DisplayBundle;
  update: boolean;
}

/** Pretends to be inside a tslab kernel: records what would go to the notebook. */
function fakeKernel(): Sent[] {
  const sent: Sent[] = [];
  const writer = (content: DisplayBundle, update: boolean) =>
    sent.push({ content: JSON.parse(JSON.stringify(content)), update });
  require.cache[JUPYTER] = {
    id: JUPYTER,
    filename: JUPYTER,
    loaded: true,
    exports: { lastWriteDisplayData: writer },
  } as unknown as NodeModule;
  return sent;
}

afterEach(() => {
  delete require.cache[JUPYTER];
  delete (globalThis as Record<string, unknown>).__flowMatchingDisplay;
  vi.restoreAllMocks();
});

const fig = plotPoints(
  [
    [0, 1],
    [2, 3],
  ],
  { title: "two points" },
);

describe("the display bundle", () => {
  it("carries the plotly JSON, HTML and plain text, and the export mark in metadata", () => {
    const b = figureBundle(fig, { export: "two-points" });
    expect(Object.keys(b.data)).toEqual([PLOTLY_MIME, "text/html", "text/plain"]);
    expect(b.data[PLOTLY_MIME]).toBe(fig);
    expect(b.data["text/plain"]).toBe('[figure "two points": scatter]');
    expect(b.metadata).toEqual({ "flow-matching": { export: "two-points" } });
    expect(figureBundle(fig).metadata).toEqual({});
  });
  it("embeds the minified plotly.js only when asked", () => {
    const bundle = plotlyBundle();
    const pkg = JSON.parse(
      readFileSync(require.resolve("plotly.js-dist-min/package.json"), "utf8"),
    );
    expect(plotlyVersion()).toBe(pkg.version);
    expect(bundle.length).toBeLessThan(6e6); // the minified bundle (the unminified one is ~10 MB)
    const withPlotly = figureBundle(fig, { embedPlotly: true }).data["text/html"] as string;
    const without = figureBundle(fig).data["text/html"] as string;
    expect(withPlotly.length - without.length).toBeGreaterThan(bundle.length);
    expect(without.length).toBeLessThan(5000);
    expect(without).toContain("window.Plotly.newPlot");
  });
  it("loads plotly.js from where the kernel's installer puts it for Jupyter", async () => {
    const installer = pathToFileURL(join(__dirname, "..", "scripts", "install-kernel.mjs")).href;
    const { installPlotly } = await import(installer);
    const dataDir = mkdtempSync(join(tmpdir(), "fm-jupyter-"));
    // Served at <base>/kernelspecs/<name>/<file> from <data dir>/kernels/<name>/<file>.
    const [prefix, kernel, file] = plotlyJupyterPath().split("/");
    expect(prefix).toBe("kernelspecs");
    const onDisk = join(dataDir, "kernels", kernel, file);
    try {
      // The control: nothing there before.
      expect(existsSync(onDisk)).toBe(false);
      expect(installPlotly(dataDir)).toBe(true);
      expect(readFileSync(onDisk, "utf8")).toBe(plotlyBundle());
      expect(installPlotly(dataDir)).toBe(false); // already there: left alone
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
  it("keeps the figure's JSON from closing the script tag", () => {
    const evil = plotPoints([[0, 0]], { title: "</script><script>alert(1)</script>" });
    const html = figureBundle(evil).data["text/html"] as string;
    expect(html.match(/<\/script>/g)?.length).toBe(1); // only the tag's own end
    expect(JSON.parse(scriptJson({ a: "</script>&\u2028" }))).toEqual({ a: "</script>&\u2028" });
  });
  it("rejects export names that are not file-name safe, and non-figures", () => {
    expect(() => figureBundle(fig, { export: "My Figure" })).toThrow(
      'export must be a file-name-safe name like "loss-curve" (a-z, 0-9, dashes); got "My Figure"',
    );
    expect(() => figureBundle({ data: 3 } as never)).toThrow(
      "show needs a figure { data, layout }",
    );
  });
});

describe("show outside a kernel", () => {
  it("prints a one-line summary and returns nothing (no echo in tslab)", () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    expect(inKernel()).toBe(false);
    expect(show(fig, { export: "two-points" })).toBeUndefined();
    showMarkdown("**hello**");
    expect(log.mock.calls).toEqual([['[figure "two points": scatter]'], ["**hello**"]]);
  });
});

describe("show inside a kernel", () => {
  it("sends one small display_data per figure (no plotly.js in it), with unique plot ids", () => {
    const sent = fakeKernel();
    expect(inKernel()).toBe(true);
    show(fig, { export: "a" });
    show(fig);
    show(fig);
    expect(sent.map((s) => s.update)).toEqual([false, false, false]);
    const html = sent.map((s) => s.content.data["text/html"] as string);
    for (const h of html) {
      expect(h.length).toBeLessThan(5000);
      // Loaded from the Jupyter server when the page lacks it.
      expect(h).toContain(JSON.stringify(plotlyJupyterPath()));
    }
    const ids = html.map((h) => /<div id="([^"]+)"/.exec(h)?.[1]);
    expect(new Set(ids).size).toBe(3);
    expect(sent[0].content.metadata).toEqual({ "flow-matching": { export: "a" } });
    expect(sent[0].content.data[PLOTLY_MIME]).toEqual(fig);
  });
});

describe("progress", () => {
  it("updates one output in place, throttled, and always delivers the final state", async () => {
    const sent = fakeKernel();
    // A clock of the test's own (1 ms per step), so the throttle is checked exactly on any machine
    // however loaded (the steps take what they take; the bar only sees this clock).
    let now = 1_700_000_000_000;
    vi.spyOn(Date, "now").mockImplementation(() => now);
    const p = progress({ total: 5000, title: "train", interval: 1000 });
    for (let step = 1; step <= 5000; step++) {
      now += 1;
      await p.update(step, { loss: 1 / step });
    }
    const summary = await p.done();
    // The first update (a new output), one per second of the clock, the one at step = total, and
    // done(): nothing else.
    const steps = sent.map((s) => (s.content.metadata as any)["flow-matching"].progress.step);
    expect(steps).toEqual([1, 1001, 2001, 3001, 4001, 5000, 5000]);
    expect(sent[0].update).toBe(false);
    expect(sent.slice(1).every((s) => s.update)).toBe(true);
    const ids = new Set(sent.map((s) => s.content.transient?.display_id));
    expect(ids.size).toBe(1);
    const last = sent[sent.length - 1].content;
    expect(last.metadata).toEqual({
      "flow-matching": { progress: { step: 5000, total: 5000, updates: sent.length, done: true } },
    });
    expect(last.data["text/plain"]).toMatch(
      /^train \[#{30}\] 5000\/5000 \(100\.0%\).* loss 2\.000e-4 · done$/,
    );
    expect(last.data["text/html"]).toContain("<svg");
    expect(summary).toMatchObject({
      step: 5000,
      total: 5000,
      updates: sent.length,
      loss: 1 / 5000,
    });
    expect(p.history.loss).toHaveLength(5000);
  });
  it("sends every step when the interval is 0 (and yields after each send)", async () => {
    const sent = fakeKernel();
    const p = progress({ total: 200, interval: 0 });
    let yields = 0;
    const count = () => {
      yields++;
    };
    for (let step = 1; step <= 200; step++) {
      setImmediate(count);
      await p.update(step, { loss: step });
    }
    await p.done();
    expect(sent.length).toBe(201);
    // Each send awaited a setImmediate, so the callbacks queued before it have all run.
    expect(yields).toBe(200);
  });
  it("prints sparsely outside a kernel: one line per tenth, then the final line", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => undefined);
    const p = progress({ total: 1000, title: "t" });
    for (let step = 1; step <= 1000; step++) await p.update(step, { loss: 1 });
    await p.done();
    expect(log.mock.calls.length).toBe(11);
    expect(String(log.mock.calls[10][0])).toMatch(/1000\/1000 .* done$/);
    const quiet = progress({ total: 10, quiet: true });
    for (let step = 1; step <= 10; step++) await quiet.update(step);
    await quiet.done();
    expect(log.mock.calls.length).toBe(11);
  });
  it("checks its options", () => {
    expect(() => progress({ total: 0 })).toThrow("total must be a positive integer; got 0");
    expect(() => progress({ total: 10, interval: -1 })).toThrow(
      "interval must be a non-negative number of milliseconds; got -1",
    );
  });
  it("draws the loss as at most 300 points, on a log scale when all losses are positive", () => {
    const steps = Array.from({ length: 10000 }, (_, i) => i + 1);
    const svg = lossSparkline(
      steps,
      steps.map((s) => 1 / s),
      10000,
    );
    const points = /points="([^"]*)"/.exec(svg)?.[1].split(" ") ?? [];
    expect(points.length).toBe(300);
    expect(svg).toContain("loss (log)");
    expect(lossSparkline([1, 2], [-1, 1], 2)).not.toContain("(log)");
  });
});
