// The live progress display in the real kernel: a fixture notebook runs loops of thousands of steps
// through the course runner, and the final state of each progress output (and the text printed
// after the loops) must have reached the notebook. Without the yield after each message, the
// kernel's socket drops most of them: measured here, 67 of 3000 arrived and the cell failed.
import { describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, rmSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { HAVE_RUNNER, ROOT, runner } from "./course";

interface Output {
  output_type: string;
  text?: string | string[];
  data?: Record<string, string | string[]>;
  metadata?: Record<
    string,
    { progress?: { step: number; total: number; updates: number; done: boolean } }
  >;
}

const text = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join("") : (v ?? ""));

describe("live progress in the kernel", () => {
  it.skipIf(!HAVE_RUNNER)(
    "delivers the final state of every loop, however many updates it sent (needs " +
      "scripts/notebooks.mjs)",
    async () => {
      const fixture = join(ROOT, "tests", "fixtures", "progress-stress.ipynb");
      const out = mkdtempSync(join(tmpdir(), "fm-progress-"));
      let nb: { cells: { outputs?: Output[] }[] };
      try {
        const result = await (
          await runner()
        ).buildNotebook(fixture, { outDir: out, html: false, timeout: 900 });
        nb = JSON.parse(readFileSync(result.executedPath, "utf8"));
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
      const outputs = nb.cells.map((c) => c.outputs ?? []);

      const progressOf = (cell: number) => {
        const shown = outputs[cell].filter((o) => o.output_type === "display_data");
        expect(shown).toHaveLength(1); // one output, updated in place
        return {
          meta: shown[0].metadata?.["flow-matching"]?.progress,
          plain: text(shown[0].data?.["text/plain"]),
        };
      };
      const printed = (cell: number) =>
        outputs[cell]
          .filter((o) => o.output_type === "stream")
          .map((o) => text(o.text))
          .join("");

      // Cell 2: every step sends (3000 updates after the first display).
      const stress = progressOf(2);
      expect(stress.meta).toEqual({ step: 3000, total: 3000, updates: 3001, done: true });
      expect(stress.plain).toMatch(/^stress \[#{30}\] 3000\/3000 \(100\.0%\).* · done$/);
      expect(printed(2)).toBe("stress: 3001 messages\n");

      // Cell 3: a training-like loop at the default throttle.
      const throttled = progressOf(3);
      expect(throttled.meta).toMatchObject({ step: 4000, total: 4000, done: true });
      const sent = Number(/throttled: (\d+) messages/.exec(printed(3))?.[1]);
      expect(throttled.meta?.updates).toBe(sent);
      expect(throttled.plain).toContain("4000/4000 (100.0%)");

      expect(printed(4)).toBe("after the loops\n");
    },
    1_000_000,
  );
});
