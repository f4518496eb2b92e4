// Class-scale grading (scripts/grade.mjs gradeClass) on the sample class of the README
// (tests/fixtures/class: a full, a partial and a hostile student) and the hostile suite
// (tests/fixtures/hostile: one attack per student): a gradebook row per student and a feedback file
// each; every attack scores zero on the exercise it attacks while the student's other exercise is
// still graded; the grading folder, the course folder and the reports are unchanged byte for byte
// (also after a process the attacker left behind had its chance), and no process of the jail's
// users is left. Runs as root (the jail); see README.
import { describe, expect, it } from "vitest";
import { createHash } from "crypto";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
} from "fs";
import { tmpdir } from "os";
import { join, relative } from "path";
import { pathToFileURL } from "url";

const ROOT = join(__dirname, "..");
const load = async (name: string) => await import(pathToFileURL(join(ROOT, "scripts", name)).href);
const WELCOME = join(ROOT, "notebooks", "00-welcome.ipynb");

interface Row {
  student: string;
  score: number;
  maxScore: number;
  exercises: Record<string, { status: string; score: number }>;
}

/** sha256 of every file under `dir` (links by their target), keyed by relative path. */
function tree(dir: string, skip: RegExp = /^$/): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const rel = relative(dir, p);
      if (skip.test(rel)) continue;
      const st = lstatSync(p);
      if (st.isSymbolicLink()) out.set(rel, `-> ${readlinkSync(p)}`);
      else if (st.isDirectory()) walk(p);
      else out.set(rel, createHash("sha256").update(readFileSync(p)).digest("hex"));
    }
  };
  walk(dir);
  return out;
}

/** What the course folder holds that grading must never change (not build/ nor test scratch). */
function courseState(): Map<string, string> {
  const state = new Map<string, string>();
  for (const part of ["src", "notebooks", "scripts", join("tests", "fixtures")])
    for (const [k, v] of tree(join(ROOT, part))) state.set(join(part, k), v);
  for (const f of ["package.json", "package-lock.json", "tsconfig.json"])
    state.set(
      f,
      createHash("sha256")
        .update(readFileSync(join(ROOT, f)))
        .digest("hex"),
    );
  const modules = join(ROOT, "node_modules");
  state.set("node_modules/", readdirSync(modules).sort().join(","));
  for (const f of [
    "tslab/dist/jupyter.js",
    "tslab/package.json",
    "@tensorflow/tfjs/package.json",
    "typescript/package.json",
    "vitest/package.json",
  ]) {
    state.set(
      join("node_modules", f),
      createHash("sha256")
        .update(readFileSync(join(modules, f)))
        .digest("hex"),
    );
  }
  return state;
}

/** Processes of the jail's users (fm-grader-N) the hostile students start ("sleep 600", a bomb). */
function leftovers(): string[] {
  const uids = new Set(
    readFileSync("/etc/passwd", "utf8")
      .split("\n")
      .filter((l) => l.startsWith("fm-grader-"))
      .map((l) => l.split(":")[2]),
  );
  const found: string[] = [];
  for (const pid of readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    try {
      const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
      const cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
      if (uid && uids.has(uid) && /sleep 600|bomb/.test(cmd)) found.push(`${pid}: ${cmd}`);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

async function assignment() {
  const { writeAssignments } = await load("assignments.mjs");
  const out = mkdtempSync(join(tmpdir(), "fm-class-"));
  // As `npm run assignments` does: with the reference state the clean kernels start from.
  await writeAssignments({ out, notebooks: [WELCOME], snapshot: true, log: () => {} });
  return out;
}

const statusOf = (row: Row, n: number) => row.exercises[`00-welcome.ipynb#${n}`]?.status;

describe("grading a class", () => {
  it("the README's sample class: a line each, a gradebook, feedback files", async () => {
    const { gradeClass } = await load("grade.mjs");
    const out = await assignment();
    const lines: string[] = [];
    try {
      const reports = join(out, "reports");
      const r = await gradeClass(join(ROOT, "tests", "fixtures", "class"), {
        grading: join(out, "grading"),
        out: reports,
        log: (s: string) => lines.push(s),
      });
      const rows = Object.fromEntries((r.rows as Row[]).map((row) => [row.student, row]));
      expect(Object.keys(rows)).toEqual(["alice", "bob", "mallory"]);
      expect(lines).toContain("Reference state: all 1 notebook(s) from their snapshots");
      expect([rows.alice.score, rows.bob.score, rows.mallory.score, rows.alice.maxScore]).toEqual([
        5, 4, 0, 5,
      ]);
      expect([statusOf(rows.bob, 1), statusOf(rows.bob, 2)]).toEqual(["passed", "failed"]);
      expect(statusOf(rows.mallory, 1)).not.toBe("passed");
      expect(statusOf(rows.mallory, 2)).toBe("failed"); // it found no solution to steal
      // One line per student, as it goes.
      expect(
        lines.filter((l) => /^(alice|bob|mallory)\s/.test(l)).map((l) => l.split(/\s+/)[0]),
      ).toEqual(["alice", "bob", "mallory"]);
      const csv = readFileSync(join(reports, "gradebook.csv"), "utf8").trim().split("\n");
      expect(csv).toEqual([
        "student,score,max," + [1, 2, 3, 4, 5].map((n) => `00-welcome ex${n} (1)`).join(","),
        "alice,5,5,passed,passed,passed,passed,passed",
        "bob,4,5,passed,failed,passed,passed,passed",
        `mallory,0,5,${statusOf(rows.mallory, 1)},failed,errored,errored,errored`,
      ]);
      const book = JSON.parse(readFileSync(join(reports, "gradebook.json"), "utf8"));
      expect(book.students.map((s: Row) => [s.student, s.score])).toEqual([
        ["alice", 5],
        ["bob", 4],
        ["mallory", 0],
      ]);
      for (const s of ["alice", "bob", "mallory"])
        expect(existsSync(join(reports, "feedback", `${s}.txt`))).toBe(true);
      const bob = readFileSync(join(reports, "feedback", "bob.txt"), "utf8");
      expect(bob).toContain("Exercise 2 (translating a time): FAILED  0/1");
      expect(bob).toContain("written answer, marked by hand: NOT ANSWERED");
      expect(readFileSync(join(reports, "feedback", "alice.txt"), "utf8")).toMatch(
        /written answer, marked by hand: \d+ characters/,
      );
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 1_200_000);

  it("the hostile suite: attacks score zero, the rest is graded, nothing else moves", async () => {
    const { gradeClass } = await load("grade.mjs");
    const out = await assignment();
    try {
      const grading = join(out, "grading");
      const gradingBefore = tree(grading);
      const courseBefore = courseState();
      const reports = join(out, "reports");
      // 60 s per cell: the endless loop is stopped there, an honest cell of notebook 00 needs far
      // less.
      const r = await gradeClass(join(ROOT, "tests", "fixtures", "hostile"), {
        grading,
        out: reports,
        cellTimeout: 60,
        log: () => {},
      });
      const rows = Object.fromEntries((r.rows as Row[]).map((row) => [row.student, row]));
      const got = Object.fromEntries(
        Object.entries(rows).map(([k, row]) => [k, [statusOf(row, 1), statusOf(row, 2)]]),
      );
      const not = (s: string | undefined) => s !== "passed" && s !== undefined;
      const expected: Record<string, [(s?: string) => boolean, (s?: string) => boolean]> = {
        "shadow-assert": [not, (s) => s === "passed"],
        "monkey-patch": [(s) => s === "passed", not],
        "kernel-patch": [(s) => s === "passed", not],
        "endless-loop": [(s) => s === "timeout", (s) => s === "passed"],
        "process-exit": [(s) => s === "passed", not],
        "huge-output": [not, (s) => s === "passed"],
        "fork-bomb": [not, (s) => s !== undefined],
        "slow-function": [(s) => s === "passed", not],
        "poisoned-values": [not, (s) => s === "passed"],
        "steal-and-write": [(s) => s === "passed", (s) => s === "failed"],
        renamed: [(s) => s === "missing", (s) => s === "missing"],
      };
      expect(Object.keys(got).sort()).toEqual(Object.keys(expected).sort());
      for (const [student, [one, two]] of Object.entries(expected)) {
        expect(
          [student, one(got[student][0]), two(got[student][1])],
          `${student}: ${got[student]}`,
        ).toEqual([student, true, true]);
      }
      const reportsBefore = tree(reports);
      // A process left behind (steal-and-write starts one that writes after 3 s) has had its
      // chance: nothing changed.
      await new Promise((res) => setTimeout(res, 6000));
      expect(leftovers()).toEqual([]);
      expect(tree(reports)).toEqual(reportsBefore);
      expect(tree(grading)).toEqual(gradingBefore);
      expect(courseState()).toEqual(courseBefore);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 2_400_000);
});
