// The autograder keeps one clean kernel per notebook for the next student (scripts/grading/
// session.py, Session.reference). Students of a class hand in the same notebooks in the same order,
// so a cache smaller than the assignment evicts each reference just before its next use and reruns
// every reference notebook for every student (a class of ten notebooks with room for nine did).
import { describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import { join } from "path";

const PYTHON = process.env.FM_PYTHON || "/usr/bin/python3";
const GRADING = join(__dirname, "..", "scripts", "grading");

/** Two students of `notebooks` notebooks: how many clean kernels the second one can reuse. */
function reused(notebooks: number, keep: number, passJobSize: boolean): number {
  const script = `
import sys
sys.path.insert(0, ${JSON.stringify(GRADING)})
from session import Session
s = Session({"work": "/nonexistent", "keep_references": ${keep}})
specs = [{"key": "nb%02d" % k} for k in range(${notebooks})]
size = ${notebooks} if ${passJobSize ? "True" : "False"} else 0
first = [s.reference(spec, size) for spec in specs]
second = [s.reference(spec, size) for spec in specs]
print(sum(a is b for a, b in zip(first, second)))
`;
  const r = spawnSync(PYTHON, ["-c", script], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

describe("the grader's clean kernels, kept for the next student", () => {
  it(
    "are all reused by the second student when the assignment has more notebooks than the " +
      "default",
    () => {
      expect(reused(10, 9, true)).toBe(10);
      expect(reused(12, 9, true)).toBe(12);
    },
  );

  it("are all rerun when the cache is smaller than the assignment (negative control)", () => {
    // The driver without the job's size: room for nine, ten notebooks in turn.
    expect(reused(10, 9, false)).toBe(0);
    expect(reused(9, 9, false)).toBe(9);
  });
});
