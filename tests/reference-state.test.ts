// The reference state's snapshot (scripts/grading/reference-state.mjs, snapshot.cjs): what the
// grader's clean kernel starts from instead of running the reference notebook again. The plan,
// the fingerprints that decide whether a partial run is the full run, the key that refuses a stale
// snapshot, and, in real kernels, a snapshot that is made and one that must not be.
import { describe, expect, it } from "vitest";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "fs";
import { createRequire } from "module";
import { tmpdir } from "os";
import { join } from "path";
import { pathToFileURL } from "url";

const ROOT = join(__dirname, "..");
const load = async (name: string) => await import(pathToFileURL(join(ROOT, "scripts", name)).href);
const require_ = createRequire(__filename);
const { fingerprint } = require_(join(ROOT, "scripts", "grading", "snapshot.cjs"));
const WELCOME = join(ROOT, "notebooks", "00-welcome.ipynb");

async function welcome() {
  const { buildAssignment } = await load("exercises.mjs");
  return buildAssignment(WELCOME).manifest;
}

describe("fingerprints", () => {
  it("equal for equal values, copies of shared objects and rebuilt plain data", () => {
    const shared = [1, 2, 3];
    const a = { rows: [shared, shared], f32: Float32Array.of(1.5, -2), s: "x" };
    const b = {
      rows: [
        [1, 2, 3],
        [1, 2, 3],
      ],
      f32: Float32Array.of(1.5, -2),
      s: "x",
    };
    expect(fingerprint(a, null)).toBe(fingerprint(b, null));
    const cyclic: any = { name: "c" };
    cyclic.self = cyclic;
    const twin: any = { name: "c" };
    twin.self = twin;
    expect(fingerprint(cyclic, null)).toBe(fingerprint(twin, null));
  });

  it("differ where code could tell the values apart (the controls)", () => {
    const base = fingerprint({ x: [0, 1] }, null);
    expect(fingerprint({ x: [-0, 1] }, null)).not.toBe(base);
    expect(fingerprint({ x: [0, 1 + 1e-15] }, null)).not.toBe(base);
    expect(fingerprint({ x: [0, 1], y: undefined }, null)).not.toBe(base);
    expect(fingerprint(Float32Array.of(0, 1), null)).not.toBe(
      fingerprint(Float64Array.of(0, 1), null),
    );
    expect(fingerprint(new Map([["k", 1]]), null)).not.toBe(fingerprint(new Map(), null));
    expect(fingerprint((x: number) => x + 1, null)).not.toBe(
      fingerprint((x: number) => x + 2, null),
    );
    class Box {
      constructor(public v: number) {}
    }
    expect(fingerprint(new Box(1), null)).not.toBe(fingerprint({ v: 1 }, null));
  });

  it("skip a class instance's memo field (cache, cached), never a plain object's", () => {
    class Memo {
      cached?: number[];
      constructor(public v: number) {}
    }
    const fresh = new Memo(2);
    const used = new Memo(2);
    used.cached = [4];
    expect(fingerprint(used, null)).toBe(fingerprint(fresh, null));
    expect(fingerprint(new Memo(3), null)).not.toBe(fingerprint(fresh, null));
    expect(fingerprint({ v: 2, cached: [4] }, null)).not.toBe(fingerprint({ v: 2 }, null));
  });
});

describe("the plan", () => {
  it("restores data, keeps the cells of what is not data, and keeps every solution", async () => {
    const { reducedPlan, planCells } = await load("grading/reference-state.mjs");
    const manifest = await welcome();
    const data = { wire: 0 };
    const plan = reducedPlan(manifest, { path: data, x0Rows: data, x1Rows: data });
    expect(plan.restore).toEqual(["path", "x0Rows", "x1Rows"]);
    expect(plan.observed).toEqual(["path", "x0Rows", "x1Rows"]);
    // Without data the cell that declares them runs instead (here the same cell for all three).
    const opaque = reducedPlan(manifest, {});
    expect(opaque.restore).toEqual([]);
    expect(opaque.keep.length).toBe(plan.keep.length + 1);
    const cells = planCells(manifest, plan, "/nowhere.json");
    expect(cells.length).toBe(plan.keep.length + 1);
    expect(cells[1]).toContain('const x0Rows: any = fmReferenceState.get("x0Rows");');
    // Every solution stays, in the form the full run gives it.
    const { gradedLayout } = await load("grading/plan.mjs");
    const entries = gradedLayout(manifest).filter((e: any) =>
      ["code", "solution"].includes(e.role),
    );
    const solutions = entries.flatMap((e: any, k: number) => (e.role === "solution" ? [k] : []));
    expect(solutions.length).toBeGreaterThan(0);
    expect(solutions.every((k: number) => plan.keep.includes(k))).toBe(true);
  });
});

describe("a snapshot in real kernels", () => {
  it(
    "is made, checked and used only while its key matches; a partial run that differs makes " +
      "none",
    async () => {
      const { snapshotReference, loadReferenceState, referenceStatePath } = await load(
        "grading/reference-state.mjs",
      );
      const { copyCourse, privateKernelDir } = await load("grade.mjs");
      const { KERNEL_NAME } = await load("install-kernel.mjs");
      const work = mkdtempSync(join(tmpdir(), "fm-reference-state-test-"));
      try {
        const course = copyCourse(join(work, "course"), { linkModules: true });
        const kernel = { name: KERNEL_NAME, dirs: [privateKernelDir()] };
        const grading = join(work, "grading");
        mkdirSync(grading);
        const manifest = await welcome();
        expect(loadReferenceState(grading, manifest).why).toBe("no snapshot");

        const made = snapshotReference(grading, manifest, { course, kernel, timeout: 300 });
        expect(made.ok).toBe(true);
        expect(made.plan.restore).toEqual(["path", "x0Rows", "x1Rows"]);
        const loaded = loadReferenceState(grading, manifest);
        expect(loaded.why).toBe(null);
        expect(loaded.snapshot.cells.join("\n")).toContain("fmReferenceState");

        // A changed check, a damaged file: the grader runs the reference in full.
        const edited = structuredClone(manifest);
        edited.exercises[0].checks[0].source += "\n// edited";
        expect(loadReferenceState(grading, edited).why).toMatch(/changed since/);
        const path = referenceStatePath(grading, manifest.notebook);
        const text = readFileSync(path, "utf8");
        writeFileSync(path, text.slice(0, 100));
        expect(loadReferenceState(grading, manifest).why).toMatch(/not valid JSON/);
        const bad = JSON.parse(text);
        bad.plan.restore.push("x; process.exit()");
        writeFileSync(path, JSON.stringify(bad));
        expect(loadReferenceState(grading, manifest).why).toMatch(/malformed/);

        // The control: an object that is not data (a Map), made by one cell and changed by a later
        // one the plan leaves out. The partial run's fingerprint differs, so no snapshot is
        // written.
        const tricky = structuredClone(manifest);
        const first = tricky.layout.findIndex((e: any) => e.role === "code");
        tricky.layout.splice(first + 1, 0, {
          role: "code",
          source: "const box = new Map<string, number>();",
        });
        tricky.layout.splice(first + 2, 0, { role: "code", source: 'box.set("k", 1);' });
        tricky.exercises[0].checks[0].source += "\nassert.ok(box.size >= 0);";
        const refused = snapshotReference(grading, tricky, { course, kernel, timeout: 300 });
        expect(refused.ok).toBe(false);
        expect(refused.why).toMatch(/other values for box/);
        expect(existsSync(path)).toBe(false);
        // Without the change the same plan passes: the control fails for the reason it names.
        tricky.layout.splice(first + 2, 1);
        expect(snapshotReference(grading, tricky, { course, kernel, timeout: 300 }).ok).toBe(true);
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    300_000,
  );
});
