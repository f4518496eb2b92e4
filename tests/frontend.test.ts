// The course as a student sees it in Debian's classic Jupyter Notebook 6 in headless Chromium
// (issue 17), through tests/frontend-driver.ts: a private notebook server on 127.0.0.1 with a
// token, the course kernel registered in its private data folder.
//
// - Run All of course notebooks through the menu, then: the course kernel runs (by display name),
//   no cell error, one drawn plot per fm.show call, sliders and play buttons where a figure has
//   frames and the plot changes when the slider moves, progress bars in their final state, math
//   typeset, no JavaScript error or warning beyond the frontend's own listed harmless ones.
//   Which notebooks: all of them in CI (CI=true, set by .ci/run); by default 00 and 06, to keep
//   `npm test` short on a shared machine; FM_FRONTEND_NOTEBOOKS=00,03 picks others (or "all").
// - Output volume: a cell printing 5000 lines, then the next cell: both complete, all shown.
// - Reopen: the saved notebook, reloaded, draws its figures from the saved outputs (trusted); a
//   copy that Jupyter does not trust shows a one-line hint in each figure's place.
// - Interrupt of 06's training through Kernel > Interrupt, then Restart & Run All (06's Run All
//   checks are made there).
// - Negative controls: a figure, a slider, a progress bar, a formula, a script and an Interrupt
//   broken on purpose each fail their check.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, readFileSync, readdirSync, writeFileSync } from "fs";
import { join } from "path";
import type { Browser } from "playwright-core";
import { launchChromium } from "./browser-page";
import { ROOT, numberedLines, printLines } from "./kernel-session";
import {
  HAVE_CLASSIC,
  KERNEL_DISPLAY_NAME,
  KERNEL_NAME,
  PYTHON,
  cellIndexOfCode,
  codeCellWith,
  cellOutputs,
  deleteCell,
  hasMath,
  inspectNotebook,
  interruptMidway,
  isTrusted,
  lastJson,
  kernelShown,
  openNotebook,
  printedText,
  restartRunAll,
  runAll,
  runAllAbove,
  runNewCellBelow,
  save,
  showCalls,
  startClassicServer,
  writeNotebook,
  type ClassicServer,
} from "./frontend-driver";

const ALL = readdirSync(join(ROOT, "notebooks"))
  .filter((f) => /^\d\d-.*\.ipynb$/.test(f))
  .sort();
const DEFAULT = ["00", "06"];
const chosen = process.env.FM_FRONTEND_NOTEBOOKS ?? (process.env.CI ? "all" : DEFAULT.join(","));
const NOTEBOOKS =
  chosen === "all" ? ALL : ALL.filter((f) => chosen.split(",").some((p) => f.startsWith(p.trim())));

// Skipped where classic Notebook is missing, except in CI, where `npm test`'s pretest installs it.
describe.runIf(!HAVE_CLASSIC && Boolean(process.env.CI))("classic Notebook in CI", () => {
  it("is installed", () => {
    expect.fail(`classic Jupyter Notebook (6.x) is missing for ${PYTHON}`);
  });
});

let server: ClassicServer;
let browser: Browser;

beforeAll(async () => {
  if (!HAVE_CLASSIC) return;
  server = await startClassicServer();
  browser = await launchChromium();
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
}, 60_000);

/** A course notebook copied into the server's folder and opened; its kernel is the course's. */
async function openCourseNotebook(file: string): Promise<Awaited<ReturnType<typeof openNotebook>>> {
  copyFileSync(join(ROOT, "notebooks", file), join(server.notebooks, file));
  const p = await openNotebook(browser, server, file);
  try {
    expect(await kernelShown(p.page)).toEqual({ name: KERNEL_NAME, display: KERNEL_DISPLAY_NAME });
  } catch (e) {
    await p.page.context().close();
    throw e;
  }
  return p;
}

const NO_PROBLEMS = { cells: [], figures: [], sliders: [], progress: [], math: [], console: [] };

/** Hang guard of one Run All: generous (the machine may be shared), never a speed target. */
const RUN_ALL_GUARD = 1_200_000;

describe.skipIf(!HAVE_CLASSIC)("the course in classic Notebook", () => {
  it("registers the course kernel by its display name in the private data folder", async () => {
    const r = await fetch(`${server.origin}/api/kernelspecs`, {
      headers: { Authorization: `token ${server.token}` },
    });
    const specs = (await r.json()) as {
      kernelspecs: Record<string, { spec: { display_name: string } }>;
    };
    expect(specs.kernelspecs[KERNEL_NAME]?.spec.display_name).toBe(KERNEL_DISPLAY_NAME);
    // The token is required: without it the API refuses.
    const anonymous = await fetch(`${server.origin}/api/kernelspecs`);
    expect(anonymous.status).toBe(403);
  });

  // 06 runs all its cells in the Interrupt test below (after the interrupt, Restart & Run All).
  it.each(NOTEBOOKS.filter((f) => !f.startsWith("06-")))(
    "Run All of %s: no error, every figure drawn, sliders move, bars final, math typeset",
    async (file) => {
      const p = await openCourseNotebook(file);
      try {
        await runAll(p.page, RUN_ALL_GUARD);
        const shows = showCalls(join(ROOT, "notebooks", file));
        const seen = await inspectNotebook(p, shows, hasMath(join(ROOT, "notebooks", file)));
        expect(seen.problems).toEqual(NO_PROBLEMS);
        expect(seen.figures).toBe(shows);
        expect(seen.drawn).toBe(shows);
        console.log(
          `${file}: ${seen.drawn} figures drawn (${seen.animated} animated, sliders checked), ` +
            `${seen.progressBars} progress bars final, ${seen.math} formulas typeset`,
        );
      } finally {
        await p.page.context().close();
      }
    },
    RUN_ALL_GUARD + 300_000,
  );
});

/**
 * Soak (issue 20): FM_FRONTEND_RUNS=10 FM_FRONTEND_NOTEBOOKS=06 runs each chosen notebook that many
 * times in one page (Run All, then Kernel > Restart & Run All), every run with all the checks of
 * the Run All test. Off unless asked for: ten runs of 06 take about a quarter of an hour.
 */
const RUNS = Number(process.env.FM_FRONTEND_RUNS ?? "0");
if (!Number.isInteger(RUNS) || RUNS < 0) {
  throw new Error(
    `FM_FRONTEND_RUNS must be a whole number of runs; got "${process.env.FM_FRONTEND_RUNS}"`,
  );
}

describe.skipIf(!HAVE_CLASSIC || RUNS === 0)(
  `${RUNS} Run Alls in a row in classic Notebook`,
  () => {
    it.each(NOTEBOOKS)(
      `%s survives ${RUNS} Run Alls: every run ends with no error and every figure drawn`,
      async (file) => {
        const p = await openCourseNotebook(file);
        const shows = showCalls(join(ROOT, "notebooks", file));
        const math = hasMath(join(ROOT, "notebooks", file));
        const seconds: number[] = [];
        try {
          for (let run = 1; run <= RUNS; run++) {
            const t0 = Date.now();
            if (run === 1) await runAll(p.page, RUN_ALL_GUARD);
            else await restartRunAll(p.page, RUN_ALL_GUARD);
            seconds.push((Date.now() - t0) / 1000);
            const seen = await inspectNotebook(p, shows, math);
            expect(seen.problems, `run ${run} of ${RUNS}`).toEqual(NO_PROBLEMS);
            expect(seen.drawn, `run ${run} of ${RUNS}`).toBe(shows);
            console.log(
              `${file}: run ${run} of ${RUNS} passed in ${seconds[run - 1].toFixed(0)} s`,
            );
          }
          console.log(
            `${file}: ${RUNS} runs, seconds: ${seconds.map((t) => t.toFixed(0)).join(", ")}`,
          );
        } finally {
          await p.page.context().close();
        }
      },
      RUNS * (RUN_ALL_GUARD + 60_000),
    );
  },
);

describe.skipIf(!HAVE_CLASSIC)("output volume in classic Notebook", () => {
  it(
    "a cell printing 5000 lines and the cell after it both complete and show all output",
    async () => {
      const name = "volume.ipynb";
      writeNotebook(server, name, [
        'import * as fm from "./src/index"; await fm.initBackend();',
        // More than classic Notebook's default rate limit (it drops a kernel's output beyond 1000
        // messages a second over 3 s): the kernel joins printed lines into few messages.
        printLines("line", 5000),
        'console.log("after"); fm.show(fm.plotPoints([[0, 0], [1, 1]], { title: "after" }));',
      ]);
      const p = await openNotebook(browser, server, name);
      try {
        await runAll(p.page, RUN_ALL_GUARD);
        expect(await printedText(p.page, 1)).toBe(numberedLines("line", 5000));
        expect(await printedText(p.page, 2)).toBe("after\n");
        // What the page shows, not only what the frontend holds.
        const shown = await p.page.evaluate(() =>
          Array.from(document.querySelectorAll(".code_cell")).map((c) =>
            Array.from(c.querySelectorAll(".output_stream pre"))
              .map((e) => e.textContent ?? "")
              .join(""),
          ),
        );
        expect(shown[1]).toBe(numberedLines("line", 5000));
        expect(shown[2]).toBe("after\n");
        const seen = await inspectNotebook(p, 1, false);
        expect(seen.problems.cells).toEqual([]);
        expect(seen.problems.figures).toEqual([]);
        expect(seen.problems.console).toEqual([]);
      } finally {
        await p.page.context().close();
      }
    },
    RUN_ALL_GUARD,
  );
});

describe.skipIf(!HAVE_CLASSIC)("reopening a saved notebook in classic Notebook", () => {
  const name = "reopen.ipynb";
  const untrusted = "reopen-untrusted.ipynb";
  const CELLS = [
    'import * as fm from "./src/index"; await fm.initBackend();',
    'fm.show(fm.plotPoints([[0, 0], [1, 1], [2, 0.5]], { title: "three points" }));',
    'fm.show(fm.plotPoints([[0, 1], [1, 0]], { title: "two points" }));',
  ];

  it(
    "draws the figures from the saved outputs of a trusted notebook",
    async () => {
      writeNotebook(server, name, CELLS);
      const first = await openNotebook(browser, server, name);
      try {
        await runAll(first.page, RUN_ALL_GUARD);
        expect((await inspectNotebook(first, 2, false)).drawn).toBe(2);
        await save(first.page);
      } finally {
        await first.page.context().close();
      }
      // A copy changed outside Jupyter, as a notebook received from someone else: Jupyter has no
      // signature for it, so it does not trust it.
      const nb = JSON.parse(readFileSync(join(server.notebooks, name), "utf8"));
      nb.cells.unshift({ cell_type: "markdown", metadata: {}, source: "Received from a friend." });
      writeFileSync(join(server.notebooks, untrusted), JSON.stringify(nb));
      const again = await openNotebook(browser, server, name);
      try {
        const trusted = await isTrusted(again.page);
        expect(trusted).toBe(true);
        const seen = await inspectNotebook(again, 2, false);
        expect(seen.problems.figures).toEqual([]);
        expect(seen.drawn).toBe(2);
        expect(seen.problems.console).toEqual([]);
      } finally {
        await again.page.context().close();
      }
    },
    RUN_ALL_GUARD,
  );

  it("shows a one-line hint where each figure is in an untrusted notebook", async () => {
    const p = await openNotebook(browser, server, untrusted);
    try {
      const trusted = await isTrusted(p.page);
      expect(trusted).toBe(false);
      const outputs = await cellOutputs(p.page);
      expect(outputs.flat().filter((o) => o.data?.["application/vnd.plotly.v1+json"])).toHaveLength(
        2,
      );
      const places = await p.page.evaluate(() =>
        Array.from(document.querySelectorAll(".code_cell .output_html")).map((e) => ({
          text: (e as HTMLElement).innerText.trim(),
          height: (e as HTMLElement).getBoundingClientRect().height,
          plots: e.querySelectorAll(".main-svg").length,
        })),
      );
      expect(places).toHaveLength(2);
      for (const place of places) {
        expect(place.plots).toBe(0);
        expect(place.text).toMatch(/Trust/);
        expect(place.text).toMatch(/run the cell/);
        expect(place.text.split("\n")).toHaveLength(1);
        // A line of text, not a figure-sized blank.
        expect(place.height).toBeLessThan(100);
      }
    } finally {
      await p.page.context().close();
    }
  }, 300_000);
});

describe.skipIf(!HAVE_CLASSIC)(
  "negative controls: each check fails on what is broken on purpose",
  () => {
    it(
      "a figure, a slider, a progress bar, a formula and a script broken on purpose",
      async () => {
        const name = "controls.ipynb";
        const pathFrames =
          "const frames = [0, 0.5, 1].map((t) => ({ t, particles: [[t, 0], [0, t], [-t, -t]] }));";
        writeNotebook(server, name, [
          'import * as fm from "./src/index"; await fm.initBackend();',
          // A working animated figure: the slider check passes on it.
          `${pathFrames}\nfm.show(fm.plotPath(frames, { title: "moves" }));`,
          // A slider broken on purpose: every frame shows the first one's traces.
          `${pathFrames}\nconst still = fm.plotPath(frames, { title: "still" });\n` +
            "still.frames = still.frames!.map((f) => ({ ...f, data: still.data }));\n" +
            "fm.show(still);",
          // A figure broken on purpose: its HTML never draws.
          'const broken = fm.figureBundle(fm.plotPoints([[0, 0]]), { divId: "fm-broken" });\n' +
            'broken.data["text/html"] = \'<div id="fm-broken" class="fm-figure"></div>\';\n' +
            "fm.sendDisplay(broken);",
          // A progress bar left before its end.
          'const bar = fm.progress({ total: 10, title: "left behind" });\nawait bar.update(3);',
          // A script error on the page.
          "fm.showHtml('<script>throw new Error(\"fm-control: broken on purpose\")</script>', " +
            "'x');",
          { markdown: "A formula broken on purpose: $\\frac{1}{$" },
          // A cell that fails (tslab says so on stderr).
          'throw new Error("fm-control: a failing cell");',
        ]);
        const p = await openNotebook(browser, server, name);
        try {
          await runAll(p.page, RUN_ALL_GUARD);
          // The two working figures draw (within the usual hang guard); the broken one never will,
          // so the inspection then waits for it only briefly.
          await p.page.waitForFunction(
            () =>
              Array.from(document.querySelectorAll(".fm-figure")).filter((el) =>
                el.querySelector(".main-svg"),
              ).length >= 2,
            null,
            { timeout: 60_000, polling: 500 },
          );
          const seen = await inspectNotebook(p, 3, true, 2000);
          expect(seen.problems.cells).toHaveLength(1);
          expect(seen.problems.cells[0]).toMatch(
            /^code cell 6 wrote on stderr: .*fm-control: a fai/,
          );
          expect(seen.figures).toBe(3);
          expect(seen.problems.figures).toEqual(["figure 3 (code cell 3) not drawn"]);
          expect(seen.animated).toBe(1);
          expect(seen.problems.sliders).toHaveLength(1);
          expect(seen.problems.sliders[0]).toMatch(
            /^figure in code cell 2: moving the slider .* did not change the plot$/,
          );
          // The bar's metadata and the page both say so.
          expect(seen.problems.progress).toHaveLength(2);
          expect(seen.problems.progress[0]).toBe("code cell 4: bar left at 3/10");
          expect(seen.problems.math.length).toBeGreaterThan(0);
          expect(seen.problems.console.join("\n")).toContain("fm-control: broken on purpose");
        } finally {
          await p.page.context().close();
        }
      },
      RUN_ALL_GUARD,
    );
  },
);

/** How long an interrupted cell may take to stop: "a few seconds" for a student, with slack for a
 * loaded machine (a training step takes milliseconds; without a working Interrupt the cell runs on
 * for minutes). */
const STOP_LIMIT_MS = 30_000;

/**
 * 06's training cell: the one that trains the eight-Gaussians model (`eight`, fm.seed(201), 3000
 * steps on `sets[1].train`); notebook 06 loads the two-moons model it shipped.
 */
const TRAINING_CELL = "training on eight Gaussians";

/** The cell run after the interrupt: the model must be the one of the last completed step. */
const afterInterrupt = (steps: number) => `
const interruptedTheta = Float32Array.from(eight.theta);
await new Promise((resolve) => setTimeout(resolve, 2000));
const unchangedSince = interruptedTheta.every((v, i) => v === eight.theta[i]);
/** 06's recipe for the eight-Gaussians model again, stopped after \`n\` steps. */
async function replay(n: number): Promise<Float32Array> {
  fm.seed(201);
  const m = fm.createVelocityModel();
  try {
    await fm.trainFlowMatching(m, {
      data: sets[1].train, steps: 3000, learningRate: 2e-3, schedule: "cosine", progress: false,
      onStep: (s: number) => { if (s === n) fm.requestInterrupt(); },
    });
  } catch (e) {
    if (!(e instanceof fm.InterruptedError)) throw e;
  }
  return m.theta;
}
const exact = (await replay(${steps})).every((v, i) => v === interruptedTheta[i]);
console.log(JSON.stringify({ unchangedSince, exact }));
`;
/** In the control: does the model still change after the cell stopped? */
const STILL = `
const held = Float32Array.from((globalThis as any).fmControl.theta);
await new Promise((resolve) => setTimeout(resolve, 2000));
const now = (globalThis as any).fmControl.theta as Float32Array;
console.log(JSON.stringify({ unchangedSince: held.every((v, i) => v === now[i]) }));
`;

/** Negative control of the replay: one step more gives another model. */
const oneStepMore = (steps: number) => `
const oneMore = (await replay(${steps + 1})).every((v, i) => v === interruptedTheta[i]);
console.log(JSON.stringify({ oneMore }));
`;

describe.skipIf(!HAVE_CLASSIC)("Kernel > Interrupt in classic Notebook (notebook 06)", () => {
  const file = ALL.find((f) => f.startsWith("06-")) as string;

  it(
    "stops 06's training midway, keeps the last step's model, the kernel works on; " +
      "then Restart & Run All",
    async () => {
      const p = await openCourseNotebook(file);
      try {
        const training = await cellIndexOfCode(
          p.page,
          codeCellWith(join(ROOT, "notebooks", file), TRAINING_CELL),
        );
        await runAllAbove(p.page, training, RUN_ALL_GUARD);
        const stop = await interruptMidway(p.page, training, 100, STOP_LIMIT_MS);
        expect(stop.stoppedMs, "the training cell did not stop").not.toBeNull();
        const m = /training stopped after step (\d+) of 3000/.exec(stop.error);
        expect(stop.error).toMatch(/InterruptedError: Interrupted: training stopped after step/);
        const steps = Number(m?.[1]);
        expect(steps).toBeGreaterThanOrEqual(stop.step);
        expect(steps).toBeLessThan(3000);
        // The kernel works on: a following small cell runs, the model no longer changes, and it
        // is the model of the last completed step (06's recipe replayed to it, bit for bit).
        const check = await runNewCellBelow(p.page, training, afterInterrupt(steps));
        expect(await lastJson(p.page, check)).toEqual({ unchangedSince: true, exact: true });
        const control = await runNewCellBelow(p.page, check, oneStepMore(steps));
        expect(await lastJson(p.page, control)).toEqual({ oneMore: false });
        console.log(
          `06: interrupted at step ${steps}, stopped ${stop.stoppedMs} ms after the click`,
        );
        await deleteCell(p.page, control);
        await deleteCell(p.page, check);
        // Restart & Run All: the whole notebook again, with every check of the Run All test.
        await restartRunAll(p.page, RUN_ALL_GUARD);
        const shows = showCalls(join(ROOT, "notebooks", file));
        const seen = await inspectNotebook(p, shows, true);
        expect(seen.problems).toEqual(NO_PROBLEMS);
        expect(seen.drawn).toBe(shows);
      } finally {
        await p.page.context().close();
      }
    },
    2 * RUN_ALL_GUARD + 600_000,
  );

  it(
    "fails its check when the Interrupt is broken on purpose (a loop that ignores it)",
    async () => {
      const name = "interrupt-control.ipynb";
      writeNotebook(server, name, [
        // Broken on purpose: the kernel's interrupt counters are hidden before the library loads,
        // so the library never sees a signal, as a library that never checked would.
        'delete (globalThis as any)[Symbol.for("flow-matching.interrupt")];',
        'import * as fm from "./src/index"; await fm.initBackend();',
        "fm.seed(1);\nconst m = fm.createVelocityModel();\n(globalThis as any).fmControl = m;\n" +
          'await fm.trainFlowMatching(m, { data: fm.toyDataset("twoMoons", 200),\n' +
          '  steps: 1000000, progress: "ignoring interrupts" });',
      ]);
      const p = await openNotebook(browser, server, name);
      try {
        await runAllAbove(p.page, 2, RUN_ALL_GUARD);
        const stop = await interruptMidway(p.page, 2, 20, STOP_LIMIT_MS);
        // The check of the real test: the cell stops, and then the model no longer changes. Here
        // the kernel gives up waiting for the library after 3 s and abandons the cell (tslab's own
        // interrupt), while the training goes on in the background: the check must see it.
        let unchangedSince: boolean | null = null;
        if (stop.stoppedMs !== null) {
          const after = await runNewCellBelow(p.page, 2, STILL);
          unchangedSince = ((await lastJson(p.page, after)) as { unchangedSince: boolean })
            .unchangedSince;
        }
        console.log(`control: stopped after ${stop.stoppedMs} ms, unchanged ${unchangedSince}`);
        expect(stop.stoppedMs !== null && unchangedSince === true).toBe(false);
      } finally {
        await p.page.context().close();
        // Stop the kernel that still trains.
        await fetch(`${server.origin}/api/sessions`, {
          headers: { Authorization: `token ${server.token}` },
        })
          .then((r) => r.json())
          .then((sessions: { path: string; kernel: { id: string } }[]) =>
            Promise.all(
              sessions
                .filter((s) => s.path === name)
                .map((s) =>
                  fetch(`${server.origin}/api/kernels/${s.kernel.id}`, {
                    method: "DELETE",
                    headers: { Authorization: `token ${server.token}` },
                  }),
                ),
            ),
          );
      }
    },
    RUN_ALL_GUARD,
  );
});
