// When a cell stops the student's kernel before an exercise's values are read (a time limit, a
// kernel that died), the exercise's message names that cell (scripts/grade.mjs stoppedBefore)
// instead of "... was not read from your notebook", which blamed the student's cells even when the
// course's own cell was the one that stopped. Runs as root (the jail); see README.
import { describe, expect, it } from "vitest";
import { join } from "path";
import { pathToFileURL } from "url";

const ROOT = join(__dirname, "..");
const load = async (name: string) => await import(pathToFileURL(join(ROOT, "scripts", name)).href);

interface Outcome {
  index: number;
  role: string;
  exercise?: number;
  cell?: number;
  status: string;
  message?: string;
}

const cells = [
  { source: "\n// the course's setup\nconst data = makeData(4000);" },
  { source: "train(model);" },
  { source: "(globalThis as any).__fmGrading.setup(null);" },
  { source: "const answer = 1;" },
  { source: "capture(1)" },
];
const run = (statuses: string[], message = ""): Outcome[] =>
  statuses.map((status, index) => ({
    index,
    role: ["ta", "ta", "setup", "answer", "capture"][index],
    ...(index >= 3 ? { exercise: 1 } : {}),
    ...(index === 3 ? { cell: 7 } : {}),
    status,
    message: status === "ok" ? "" : message,
  }));

describe("an exercise whose values never arrived names the cell that stopped the kernel", () => {
  it("a course cell past the limit, a dead kernel, a student's cell that hung", async () => {
    const { stoppedBefore } = await load("grade.mjs");
    const limit = "stopped after 600.1 s: the notebook time limit is 600 s";
    expect(
      stoppedBefore(1, run(["ok", "timeout", "not-run", "not-run", "not-run"], limit), cells),
    ).toEqual({
      status: "errored",
      message:
        "not graded: the course's cell that begins `train(model);` " +
        `${limit}, before any of your code had run (a problem of the grader, not of your ` +
        "notebook: it can be graded again)",
      grader: true,
    });
    // After a cell of theirs has run, a course cell that stops is not said to be the grader's.
    const afterTheirs = [
      ...run(["ok", "ok", "ok", "ok", "ok"]),
      { index: 5, role: "ta", status: "timeout", message: limit },
      { index: 6, role: "capture", exercise: 2, status: "not-run", message: "" },
    ];
    expect(stoppedBefore(2, afterTheirs, [...cells, { source: "slow();" }])).toEqual({
      status: "timeout",
      message:
        `not graded: the course's cell that begins \`slow();\` ${limit}; ` +
        "the cells after it did not run",
    });
    // A course cell's first line that is not blank, cut at 60 characters.
    const longLine = `const x = ${"1 + ".repeat(30)}1;`;
    const long = [{ source: `\n\n${longLine}` }, ...cells.slice(1)];
    expect(
      stoppedBefore(1, run(["timeout", "not-run", "not-run", "not-run", "not-run"], limit), long)
        .message,
    ).toContain(`begins \`${longLine.slice(0, 57)}...\``);
    const died = stoppedBefore(
      1,
      run(["ok", "dead", "not-run", "not-run", "not-run"], "the kernel was killed by signal 9"),
      cells,
    );
    expect(died.status).toBe("errored");
    expect(died.grader).toBe(true);
    expect(died.message).toContain(
      "not graded: the kernel stopped during the course's cell that begins `train(model);` " +
        "(the kernel was killed by signal 9), before any of your code had run",
    );
    expect(
      stoppedBefore(1, run(["ok", "ok", "ok", "timeout", "not-run"], "stopped after 180 s"), cells)
        .message,
    ).toBe(
      "not graded: your cell for exercise 1 (cell 7) stopped after 180 s; " +
        "the cells after it did not run",
    );
  });

  it("says nothing when the values were read or nothing stopped (controls)", async () => {
    const { stoppedBefore } = await load("grade.mjs");
    // Read: whatever the checks then decide is the verdict.
    expect(stoppedBefore(1, run(["ok", "ok", "ok", "ok", "ok"]), cells)).toBeNull();
    expect(stoppedBefore(1, run(["ok", "ok", "ok", "error", "stderr"], "x"), cells)).toBeNull();
    // Not read, but no cell timed out or died (an error in the capture): the checks' own message.
    expect(stoppedBefore(1, run(["ok", "ok", "ok", "ok", "error"], "boom"), cells)).toBeNull();
    // A cell that stopped after the capture does not explain it.
    const later = [...run(["ok", "ok", "ok", "ok", "error"], "boom")];
    later.push({ index: 5, role: "ta", status: "timeout", message: "stopped" });
    expect(stoppedBefore(1, later, cells)).toBeNull();
    // Another exercise's capture.
    expect(stoppedBefore(2, run(["ok", "timeout", "not-run", "not-run", "not-run"]), cells)).toBe(
      null,
    );
  });
});
