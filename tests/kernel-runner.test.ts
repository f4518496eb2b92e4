// What the course runner (scripts/notebooks.mjs, scripts/run_notebook.py) reports when the kernel
// gives no reason: a kernel that dies, a failed cell with no text. And the lead of issue 13.1: a
// cell that printed ~600 lines used to fail "without any text" (its error message was lost on a
// busy socket); now every line and the message arrive.
import { afterAll, describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";
import { ROOT, kernelFolder, numberedLines } from "./kernel-session";

const FIXTURES = join(ROOT, "tests", "fixtures");
const PYTHON = process.env.FM_PYTHON || "/usr/bin/python3";

interface NotebookErrorLike extends Error {
  details: {
    kind: string;
    cell: number | null;
    firstLine: string | null;
    text: string;
    failedPath: string | null;
  };
}
interface Runner {
  buildNotebook(
    path: string,
    options?: { outDir?: string; timeout?: number; html?: boolean },
  ): Promise<unknown>;
}

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * Builds a fixture with the strict runner; returns the error it must throw and the failed notebook.
 */
async function failure(fixture: string): Promise<{
  err: NotebookErrorLike;
  failed: { cells: { outputs?: { name?: string; text?: string | string[] }[] }[] } | null;
}> {
  const out = mkdtempSync(join(tmpdir(), "fm-runner-"));
  dirs.push(out);
  const runner = (await import(
    pathToFileURL(join(ROOT, "scripts", "notebooks.mjs")).href
  )) as Runner;
  try {
    await runner.buildNotebook(join(FIXTURES, fixture), { outDir: out, timeout: 120, html: false });
  } catch (e) {
    const err = e as NotebookErrorLike;
    const failed = err.details?.failedPath
      ? JSON.parse(readFileSync(err.details.failedPath, "utf8"))
      : null;
    return { err, failed };
  }
  throw new Error(`${fixture} passed the strict runner, but it must fail`);
}

const text = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join("") : (v ?? ""));

describe("the strict runner, when the kernel gives no reason", () => {
  it("reports a kernel that died: the cell, the time, its exit code, its last words", async () => {
    const { err } = await failure("runner-kernel-dies.ipynb");
    expect(err.details).toMatchObject({ kind: "dead-kernel", cell: 2 });
    expect(err.message).toContain(
      'runner-kernel-dies.ipynb, code cell 2 ("// the second code cell: the kernel exits',
    );
    expect(err.message).toMatch(
      new RegExp(
        String.raw`the kernel died \(.*\), after \d+\.\d s in this cell \(\d+\.\d s into the ` +
          String.raw`notebook\); kernel state: exited with code 3`,
      ),
    );
    expect(err.message).toContain("the kernel's last lines on stderr:\nlast words before exiting");
  }, 200_000);

  it("reports an error the kernel printed nothing for: cell, time, state, its stderr", async () => {
    const { err } = await failure("runner-silent-error.ipynb");
    expect(err.details).toMatchObject({ kind: "error", cell: 1 });
    expect(err.message).toMatch(
      /reported an error without any text, after \d+\.\d s in this cell .*; kernel state: running/,
    );
    expect(err.message).toContain("a note on the kernel's own stderr");
    // The control: the kernel really said nothing.
    expect(err.message).not.toContain("nobody sees this");
  }, 200_000);

  it("gets all lines and the error of a cell that printed 600 lines, then threw", async () => {
    const { err, failed } = await failure("runner-print-then-throw.ipynb");
    expect(err.details).toMatchObject({ kind: "error", cell: 1 });
    expect(err.message).toContain("Error: thrown after 600 lines");
    const outputs = failed!.cells.flatMap((c) => c.outputs ?? []);
    expect(
      outputs
        .filter((o) => o.name === "stdout")
        .map((o) => text(o.text))
        .join(""),
    ).toBe(numberedLines("line", 600));
  }, 200_000);

  it(
    "in the grader's kernel driver too: the dead kernel's cell says why, the rest are not " + "run",
    async () => {
      const kernels = kernelFolder();
      dirs.push(kernels.dir);
      const { kernelSpec } = await import(
        pathToFileURL(join(ROOT, "scripts", "install-kernel.mjs")).href
      );
      kernels.addSpec("flow-matching", kernelSpec());
      // The fixture's code cells, run as the autograder runs a student's cells.
      const nb = JSON.parse(readFileSync(join(FIXTURES, "runner-kernel-dies.ipynb"), "utf8")) as {
        cells: { cell_type: string; source: string[] }[];
      };
      const cells = nb.cells
        .filter((c) => c.cell_type === "code")
        .map((c) => ({ code: c.source.join(""), limit: 120 }));
      const cellsPath = join(kernels.dir, "cells.json");
      writeFileSync(cellsPath, JSON.stringify(cells));
      const r = spawnSync(
        PYTHON,
        [
          join(ROOT, "tests", "fixtures", "grader_cell_limit.py"),
          "flow-matching",
          ROOT,
          cellsPath,
          join(kernels.dir, "kernel.log"),
        ],
        { encoding: "utf8", env: { ...process.env, JUPYTER_PATH: kernels.dir }, timeout: 200_000 },
      );
      expect(r.status, r.stderr).toBe(0);
      const outcomes = JSON.parse(r.stdout.trim().split("\n").pop() as string) as {
        status: string;
        message: string;
      }[];
      expect(outcomes.map((o) => o.status)).toEqual(["ok", "dead", "not-run"]);
      expect(outcomes[1].message).toMatch(/exited with code 3/);
      expect(outcomes[1].message).toContain("last words before exiting");
    },
    200_000,
  );
});
