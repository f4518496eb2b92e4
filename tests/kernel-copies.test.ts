// One kernel for any number of course copies (issue 13.6): two copies of the course in temporary
// folders, both registered in one Jupyter folder. A notebook runs the library of the copy it sits
// in, whichever copy registered last; moving or deleting a copy breaks no other; a notebook
// outside any course, or in a copy whose packages are not installed, gets an error that says so.
// (The copies hold the course's package.json and launcher scripts, a one-line src/index.ts naming
// the copy, and the course's node_modules linked in: enough to tell which library a kernel runs.)
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "child_process";
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "fs";
import { tmpdir } from "os";
import { join } from "path";
import { ROOT, session } from "./kernel-session";

let base = "";
let jupyter = "";

/** A minimal copy of the course at `<base>/<name>` whose library says `tag`. */
function makeCopy(name: string, tag: string, installed = true): string {
  const root = join(base, name);
  for (const dir of ["src", "scripts", "notebooks"])
    mkdirSync(join(root, dir), { recursive: true });
  copyFileSync(join(ROOT, "package.json"), join(root, "package.json"));
  for (const f of ["kernel.js", "install-kernel.mjs"])
    copyFileSync(join(ROOT, "scripts", f), join(root, "scripts", f));
  writeFileSync(join(root, "src", "index.ts"), `export const COPY = ${JSON.stringify(tag)};\n`);
  if (installed) symlinkSync(join(ROOT, "node_modules"), join(root, "node_modules"), "dir");
  return root;
}

/**
 * `npm install` in a copy registers the kernel from it (postinstall): the same script, run there.
 */
function register(root: string): void {
  const r = spawnSync(process.execPath, [join(root, "scripts", "install-kernel.mjs"), "--quiet"], {
    encoding: "utf8",
    env: { ...process.env, JUPYTER_DATA_DIR: jupyter },
  });
  if (r.status !== 0) throw new Error(`install-kernel.mjs failed in ${root}:\n${r.stderr}`);
}

const WHICH = 'import { COPY } from "./src/index"; console.log(COPY, process.cwd());';
/**
 * Starts the registered kernel in `dir` and runs one cell there (then a second, to see it alive).
 */
function runIn(dir: string) {
  return session(
    jupyter,
    "flow-matching",
    [{ code: WHICH, pause: 0.3 }, { code: 'console.log("alive")' }],
    dir,
    240_000,
  );
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "fm-copies-"));
  jupyter = join(base, "jupyter");
});
afterAll(() => {
  if (base) rmSync(base, { recursive: true, force: true });
});

describe("one kernel, two course copies", () => {
  let a = "";
  let b = "";

  it("registers a kernel that names no copy", () => {
    a = makeCopy("instructor", "A");
    b = makeCopy("student", "B");
    register(a);
    register(b); // the student copy registers last
    const spec = JSON.parse(
      readFileSync(join(jupyter, "kernels", "flow-matching", "kernel.json"), "utf8"),
    );
    expect(spec.argv[1]).toBe(join(jupyter, "kernels", "flow-matching", "course-kernel.js"));
    expect(JSON.stringify(spec)).not.toContain(base + "/instructor");
    expect(JSON.stringify(spec)).not.toContain(base + "/student");
    expect(
      JSON.parse(readFileSync(join(jupyter, "kernels", "flow-matching", "courses.json"), "utf8")),
    ).toEqual([b, a]);
  });

  it("runs, for a notebook in each copy, that copy's library, whichever registered last", () => {
    const inA = runIn(join(a, "notebooks"));
    const inB = runIn(join(b, "notebooks"));
    expect(inA.cells[0]).toMatchObject({ status: "ok", stdout: `A ${a}\n`, stderr: "" });
    expect(inB.cells[0]).toMatchObject({ status: "ok", stdout: `B ${b}\n`, stderr: "" });
  }, 600_000);

  it("tells a notebook outside any course so, in every cell, and names a course it knows", () => {
    const elsewhere = join(base, "elsewhere", "homework");
    mkdirSync(elsewhere, { recursive: true });
    const r = runIn(elsewhere);
    expect(r.alive).toBe(true);
    for (const cell of r.cells) {
      expect(cell.status).toBe("error");
      expect(cell.stdout).toBe("");
      expect(cell.stderr).toContain(
        "This notebook is not inside a copy of the flow matching course: " +
          `no folder at or above ${elsewhere} holds one`,
      );
      expect(cell.stderr).toContain(`for example ${join(b, "notebooks")}`);
    }
  }, 600_000);

  it("tells a notebook in a copy without its packages to install them", () => {
    const bare = makeCopy("unpacked", "C", false);
    const r = runIn(join(bare, "notebooks"));
    expect(r.cells[0].status).toBe("error");
    expect(r.cells[0].stderr).toContain(
      `The course copy at ${bare} is not installed yet (no node_modules/tslab). ` +
        `Run \`npm install\` in ${bare}`,
    );
  }, 600_000);

  it("runs a copy older than this launcher (no startCourseKernel) as it was", () => {
    const old = makeCopy("last-term", "D");
    // What such a launcher does: started as a program, it starts tslab in its course root.
    writeFileSync(
      join(old, "scripts", "kernel.js"),
      [
        '"use strict";',
        "if (require.main === module) {",
        '  process.chdir(require("path").resolve(__dirname, ".."));',
        '  const configPath = process.argv[process.argv.indexOf("--config-path") + 1];',
        '  require("tslab/dist/main").startKernel({ configPath, enableFindLocal: false,',
        '    jsKernel: false, globalVersion: "" });',
        "}",
      ].join("\n"),
    );
    const r = runIn(join(old, "notebooks"));
    expect(r.cells[0]).toMatchObject({ status: "ok", stdout: `D ${old}\n` });
    expect(r.cells[1]).toMatchObject({ status: "ok", stdout: "alive\n" });
  }, 600_000);

  it("keeps working when a copy is moved away, and when the last one registered is deleted", () => {
    const moved = join(base, "moved-instructor");
    renameSync(a, moved);
    const inB = runIn(join(b, "notebooks"));
    expect(inB.cells[0]).toMatchObject({ status: "ok", stdout: `B ${b}\n` });
    const inMoved = runIn(join(moved, "notebooks"));
    expect(inMoved.cells[0]).toMatchObject({ status: "ok", stdout: `A ${moved}\n` });

    rmSync(b, { recursive: true, force: true });
    const again = runIn(join(moved, "notebooks"));
    expect(again.cells[0]).toMatchObject({ status: "ok", stdout: `A ${moved}\n` });
    expect(again.cells[1]).toMatchObject({ status: "ok", stdout: "alive\n" });
  }, 600_000);
});
