// Every hidden check of every course notebook, with its negative controls (scripts/grade.mjs
// gradeVariants): the course notebook itself gets full marks, and for every auto-graded exercise
// the untouched placeholder of the student version, each trivial answer (zeros, the input echoed
// back) and each plausible wrong answer listed in tests/fixtures/wrong-answers/<notebook>.json
// score zero on it, each because of the check (a row whose code does not run or whose values name
// other names is broken, not a control). An exercise without at least one trivial and one wrong
// answer there fails the test, by name. Runs as root (the jail); see README.
import { describe, expect, it } from "vitest";
import { existsSync, readFileSync, readdirSync } from "fs";
import { join } from "path";
import { pathToFileURL } from "url";
import { concurrencyLimit } from "./helpers";

const ROOT = join(__dirname, "..");
const load = async (name: string) => await import(pathToFileURL(join(ROOT, "scripts", name)).href);
const CONTROLS = join(ROOT, "tests", "fixtures", "wrong-answers");

interface Control {
  kind: "trivial" | "wrong" | "placeholder";
  label: string;
  values?: Record<string, unknown>;
  code?: string;
}
interface Variant extends Control {
  exercise: number;
}
interface Manifest {
  notebook: string;
  exercises: { number: number; title: string; checks: unknown[]; values?: object }[];
}

/**
 * A control rejected for a reason that says nothing about the check (its code did not run, a name
 * the exercise asks for was missing or unreadable, the checker broke): the control is broken, not
 * the answer, e.g. a stale row after an exercise was rewritten under the same number.
 */
const BROKEN = new RegExp(
  [
    "was not read from your notebook",
    "not readable",
    "which no exercise declares",
    "could not be read",
    "the clean checker",
    "did not run",
    "not attempted",
  ].join("|"),
);

/** Why a listed control cannot count as a negative control, or null. */
function brokenControl(
  v: Variant & { status: string; message: string; cellError?: string },
  names: string[],
): string | null {
  if (v.values !== undefined) {
    const given = Object.keys(v.values).sort();
    if (given.join() !== [...names].sort().join())
      return `its values name ${given.join(", ") || "nothing"}; it asks for ${names.join(", ")}`;
  }
  if (v.cellError) return `its code did not run: ${v.cellError}`;
  if (v.status === "timeout" || v.status === "not-run") return `${v.status}: ${v.message}`;
  if (BROKEN.test(v.message)) return `rejected for a reason other than the check: ${v.message}`;
  return null;
}

interface Outcome {
  index: number;
  role: string;
  exercise?: number;
  status: string;
  message?: string;
  seconds?: number;
  /** False when the cell's reply came but the end of its output did not (session.py). */
  output_ended?: boolean;
}

/** What the student's kernel did, for a failure message: cells not "ok", then the slowest five. */
function kernelStory(outcomes: Outcome[], otherErrors: unknown[], reference: unknown): string {
  const line = (o: Outcome) =>
    `  cell ${o.index} (${o.role}${o.exercise ? ` ${o.exercise}` : ""}): ${o.status}, ` +
    `${o.seconds ?? "-"} s${o.output_ended === false ? " (its output did not end)" : ""}` +
    `${o.message ? `: ${o.message.slice(0, 300)}` : ""}`;
  const bad = outcomes.filter((o) => o.status !== "ok" || o.output_ended === false);
  const slow = [...outcomes].sort((a, b) => (b.seconds ?? 0) - (a.seconds ?? 0)).slice(0, 5);
  return [
    `${outcomes.length} cells; not ok:`,
    ...bad.map(line),
    "slowest:",
    ...slow.map(line),
    `other errors: ${JSON.stringify(otherErrors)}`,
    `reference: ${JSON.stringify(reference)}`,
  ].join("\n");
}

const notebooks = readdirSync(join(ROOT, "notebooks"))
  .filter((f) => f.endsWith(".ipynb"))
  .sort();
const slot = concurrencyLimit(2); // two notebooks at a time, each with two kernels

/** The negative controls listed for a notebook: exercise number -> controls. */
function listed(name: string): Map<number, Control[]> {
  const path = join(CONTROLS, name.replace(/\.ipynb$/, ".json"));
  if (!existsSync(path)) return new Map();
  const file = JSON.parse(readFileSync(path, "utf8")) as { exercises: Record<string, Control[]> };
  return new Map(Object.entries(file.exercises).map(([k, v]) => [Number(k), v]));
}

/** The student version's TODO cell of each exercise, as it is handed out. */
async function placeholders(name: string): Promise<Variant[]> {
  const { buildAssignment } = await load("exercises.mjs");
  const { student } = buildAssignment(join(ROOT, "notebooks", name));
  const out: Variant[] = [];
  for (const cell of student.cells as {
    cell_type: string;
    source: string;
    metadata: { tags?: string[]; exercise?: number };
  }[]) {
    if (cell.cell_type !== "code" || !cell.metadata.tags?.includes("answer")) continue;
    out.push({
      exercise: cell.metadata.exercise!,
      kind: "placeholder",
      label: "the untouched TODO cell",
      code: cell.source,
    });
  }
  return out;
}

describe("every exercise's hidden check: the solution passes, its negative controls fail", () => {
  it("every auto-graded exercise lists a trivial and a wrong answer, nothing stale", async () => {
    const { buildAssignment } = await load("exercises.mjs");
    const lacking: string[] = [];
    const stale: string[] = [];
    for (const name of notebooks) {
      const manifest = buildAssignment(join(ROOT, "notebooks", name)).manifest as Manifest;
      const auto = manifest.exercises.filter((e) => e.checks.length).map((e) => e.number);
      const controls = listed(name);
      for (const e of manifest.exercises.filter((x) => x.checks.length)) {
        const kinds = new Set<string>((controls.get(e.number) ?? []).map((c) => c.kind));
        const want = ["trivial", "wrong"].filter((k) => !kinds.has(k));
        if (want.length)
          lacking.push(
            `${name} exercise ${e.number} ("${e.title}", names ` +
              `${Object.keys(e.values ?? {}).join(", ")}): needs a ${want.join(" and a ")} answer`,
          );
      }
      for (const n of controls.keys()) if (!auto.includes(n)) stale.push(`${name} exercise ${n}`);
    }
    expect(
      lacking,
      "exercises without negative controls: add rows for them to " +
        "tests/fixtures/wrong-answers/<notebook>.json (see its `about`)",
    ).toEqual([]);
    expect(stale, "controls listed for exercises that have no hidden check (any more)").toEqual([]);
  });

  describe.concurrent("per notebook", () => {
    for (const name of notebooks) {
      it(`${name}`, async ({ expect }) => {
        const { GradingRun, gradeVariants, loadGrading } = await load("grade.mjs");
        const path = join(ROOT, "notebooks", name);
        const variants: Variant[] = [...(await placeholders(name))];
        for (const [exercise, controls] of listed(name))
          for (const c of controls) variants.push({ ...c, exercise });
        const grading = loadGrading(null, path);
        const r = await slot(async () => {
          const run = new GradingRun({});
          try {
            return await gradeVariants(run, grading, path, variants);
          } finally {
            await run.close();
          }
        });
        // Positive control: the course's own solutions get full marks in the same kernels. When
        // they do not, the message shows how far the student's kernel got: every cell that did not
        // end "ok", and the slowest ones, with their seconds.
        expect(
          r.report.exercises.filter((e: { status: string }) => e.status !== "passed"),
          `${name}: the solutions did not all pass; the student's kernel:\n` +
            kernelStory(r.outcomes, r.report.otherErrors, r.reference),
        ).toEqual([]);
        expect(r.report.score).toBe(r.report.maxScore);
        // Every negative control scores zero on its exercise.
        const passed = r.variants
          .filter((v: { status: string }) => v.status === "passed")
          .map((v: Variant) => `exercise ${v.exercise}: ${v.kind} "${v.label}"`);
        expect(passed, "negative controls that got the mark").toEqual([]);
        // ... and each listed control fails because of the check, not because it is broken.
        const manifest = grading.manifests.get(name) as Manifest;
        const namesOf = (n: number) =>
          Object.keys(manifest.exercises.find((e) => e.number === n)?.values ?? {});
        const broken = r.variants
          .filter((v: Variant) => v.kind !== "placeholder")
          .map((v: Variant & { status: string; message: string }) => {
            const why = brokenControl(v, namesOf(v.exercise));
            return why && `exercise ${v.exercise}: ${v.kind} "${v.label}": ${why}`;
          })
          .filter(Boolean);
        expect(broken, "broken negative controls (stale rows?)").toEqual([]);
        // The placeholder is reported as not attempted, not as a wrong answer.
        for (const v of r.variants.filter((x: Variant) => x.kind === "placeholder"))
          expect(v.message, `${name} exercise ${v.exercise}`).toMatch(/^not attempted: TODO/);
      }, 1_200_000);
    }
  });
});
