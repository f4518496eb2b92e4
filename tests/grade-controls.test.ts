// Every hidden check of every course notebook, with its negative controls (scripts/grade.mjs
// gradeVariants): the course notebook itself gets full marks, and for every auto-graded exercise
// the untouched placeholder of the student version, each trivial answer (zeros, the input echoed
// back) and each plausible wrong answer listed in tests/fixtures/wrong-answers/<notebook>.json
// score zero on it. An exercise without at least one trivial and one wrong answer there fails the
// test, by name. Runs as root (the jail); see README.
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
  exercises: { number: number; checks: unknown[] }[];
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
      for (const n of auto) {
        const kinds = new Set((controls.get(n) ?? []).map((c) => c.kind));
        if (!kinds.has("trivial") || !kinds.has("wrong")) lacking.push(`${name} exercise ${n}`);
      }
      for (const n of controls.keys()) if (!auto.includes(n)) stale.push(`${name} exercise ${n}`);
    }
    expect(
      lacking,
      'add a "trivial" and a "wrong" answer for these exercises to ' +
        "tests/fixtures/wrong-answers/<notebook>.json",
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
        const r = await slot(async () => {
          const run = new GradingRun({});
          try {
            return await gradeVariants(run, loadGrading(null, path), path, variants);
          } finally {
            await run.close();
          }
        });
        // Positive control: the course's own solutions get full marks in the same kernels.
        expect(r.report.exercises.filter((e: { status: string }) => e.status !== "passed")).toEqual(
          [],
        );
        expect(r.report.score).toBe(r.report.maxScore);
        // Every negative control scores zero on its exercise.
        const passed = r.variants
          .filter((v: { status: string }) => v.status === "passed")
          .map((v: Variant) => `exercise ${v.exercise}: ${v.kind} "${v.label}"`);
        expect(passed, "negative controls that got the mark").toEqual([]);
        // The placeholder is reported as not attempted, not as a wrong answer.
        for (const v of r.variants.filter((x: Variant) => x.kind === "placeholder"))
          expect(v.message, `${name} exercise ${v.exercise}`).toMatch(/^not attempted: TODO/);
      }, 1_200_000);
    }
  });
});
