#!/usr/bin/env node
// Registers the course's Jupyter kernel, "Flow matching (TypeScript)", for the current user.
//
//   node scripts/install-kernel.mjs           (run by `npm start`, `npm test` and after `npm
//   install`)
//   node scripts/install-kernel.mjs --quiet   only print when something changed or went wrong
//
// Writes, in the user's Jupyter data dir ($JUPYTER_DATA_DIR when set, else
//   Linux:   $XDG_DATA_HOME/jupyter, or ~/.local/share/jupyter
//   macOS:   ~/Library/Jupyter
//   Windows: %APPDATA%\jupyter):
// - kernels/flow-matching/kernel.json, which Jupyter Lab, classic Notebook, nbclient and VS Code
//   read, starting kernels/flow-matching/course-kernel.js (a copy of scripts/kernel.js) with this
//   Node.js;
// - kernels/flow-matching/courses.json, the course copies installed here (this one first);
// - kernels/flow-matching/plotly-<version>.min.js, the plotly.js that figures load once per page in
//   Jupyter (served as a kernelspec resource, /kernelspecs/flow-matching/..., by classic Notebook
//   and Jupyter Server alike), so that saved notebooks do not carry it.
// The kernel belongs to no copy of the course: it runs the course copy a notebook sits in (see
// scripts/kernel.js), so copies coexist and moving or deleting one breaks no other. Written without
// tslab's installer (which needs IPython) and idempotent: unchanged files are left alone.
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { createRequire } from "node:module";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const KERNEL_NAME = "flow-matching";
export const DISPLAY_NAME = "Flow matching (TypeScript)";
export const LAUNCHER = join(ROOT, "scripts", "kernel.js");
/**
 * The launcher's name in the Jupyter kernel folder, and the list of known course copies beside it.
 */
export const REGISTERED_LAUNCHER = "course-kernel.js";
export const KNOWN_COPIES = "courses.json";

const require = createRequire(import.meta.url);

/** The notebook metadata every course notebook carries (tests check it). */
export const NOTEBOOK_KERNELSPEC = {
  name: KERNEL_NAME,
  display_name: DISPLAY_NAME,
  language: "typescript",
};

/**
 * A kernelspec that starts `launcher` (default: this copy's scripts/kernel.js, as the course runner
 * and grader use it) with `node` (default: this Node.js).
 */
export function kernelSpec(node = process.execPath, launcher = LAUNCHER) {
  return {
    argv: [node, launcher, "--config-path", "{connection_file}"],
    display_name: DISPLAY_NAME,
    language: "typescript",
    interrupt_mode: "signal",
    metadata: { debugger: false },
  };
}

/** The user's Jupyter data directory (see the header), honouring JUPYTER_DATA_DIR. */
export function jupyterDataDir(env = process.env, platform = process.platform) {
  if (env.JUPYTER_DATA_DIR) return resolve(env.JUPYTER_DATA_DIR);
  if (platform === "darwin") return join(homedir(), "Library", "Jupyter");
  if (platform === "win32")
    return join(env.APPDATA || join(homedir(), "AppData", "Roaming"), "jupyter");
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "jupyter");
}

/**
 * Writes `text` to `path` unless it holds exactly that; atomic (write then rename). True when
 * written.
 */
function writeIfChanged(path, text) {
  if (existsSync(path) && readFileSync(path, "utf8") === text) return false;
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
  return true;
}

/**
 * Writes the kernelspec into `<kernelsDir>/flow-matching/kernel.json` unless an identical one is
 * there. Atomic (write then rename), so concurrent writers never leave half a file.
 * @returns {{ path: string, changed: boolean }}
 */
export function writeKernelSpec(kernelsDir, spec = kernelSpec()) {
  const path = join(kernelsDir, KERNEL_NAME, "kernel.json");
  return { path, changed: writeIfChanged(path, JSON.stringify(spec, null, 2) + "\n") };
}

/** True when `dir` is a copy of this course (the launcher's own test). */
function isCourseCopy(dir) {
  try {
    const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
    return (
      pkg.name === JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).name &&
      existsSync(join(dir, "src", "index.ts"))
    );
  } catch {
    return false;
  }
}

/** The plotly.js bundle the figures use: { path, version }. */
export function plotlyBundleFile() {
  const path = require.resolve("plotly.js-dist-min");
  const m = /plotly\.js v([0-9][^\s*]*)/.exec(readFileSync(path, "utf8").slice(0, 300));
  return { path, version: m ? m[1] : "unknown" };
}

/**
 * Copies plotly.js into the kernelspec folder, `<dataDir>/kernels/flow-matching/`, as
 * `plotly-<version>.min.js` (the URL src/notebook/display.ts loads). True when copied.
 */
export function installPlotly(dataDir) {
  const { path, version } = plotlyBundleFile();
  const target = join(dataDir, "kernels", KERNEL_NAME, `plotly-${version}.min.js`);
  if (existsSync(target) && statSync(target).size === statSync(path).size) return false;
  mkdirSync(dirname(target), { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`;
  copyFileSync(path, tmp);
  renameSync(tmp, target);
  return true;
}

/**
 * The folder where the kernel keeps the library it compiled (scripts/kernel.js, section 10, which
 * says where), made now rather than by the first kernel: nothing appears in node_modules while the
 * course runs (the grader's tests check that grading changes nothing there). A folder that cannot
 * be made only costs the kernel time.
 */
function makeCompileCacheFolder() {
  const dir = require(LAUNCHER).compileCacheDir(ROOT);
  if (!dir) return; // FM_COMPILE_CACHE=off
  try {
    mkdirSync(dir, { recursive: true });
  } catch {
    // a read-only installation: the kernel compiles the library at every start
  }
}

/**
 * Registers the kernel for the current user: the launcher, the list of course copies (this one
 * first; copies that are gone are dropped), the kernelspec, and plotly.js for classic Notebook.
 * @param {{ quiet?: boolean, dataDir?: string }} options quiet: print only when it changed
 * @returns {{ path: string, changed: boolean }}
 */
export function installKernel({ quiet = false, dataDir = jupyterDataDir() } = {}) {
  const kernelDir = join(dataDir, "kernels", KERNEL_NAME);
  const launcher = join(kernelDir, REGISTERED_LAUNCHER);
  let changed = writeIfChanged(launcher, readFileSync(LAUNCHER, "utf8"));
  let known = [];
  try {
    known = JSON.parse(readFileSync(join(kernelDir, KNOWN_COPIES), "utf8"));
  } catch {
    // first installation
  }
  const copies = [
    ROOT,
    ...(Array.isArray(known) ? known : []).filter(
      (d) => typeof d === "string" && d !== ROOT && isCourseCopy(d),
    ),
  ];
  changed =
    writeIfChanged(join(kernelDir, KNOWN_COPIES), JSON.stringify(copies, null, 2) + "\n") ||
    changed;
  const result = writeKernelSpec(join(dataDir, "kernels"), kernelSpec(process.execPath, launcher));
  changed = installPlotly(dataDir) || result.changed || changed;
  makeCompileCacheFolder();
  if (changed) {
    console.log(`Registered the Jupyter kernel "${DISPLAY_NAME}" (${KERNEL_NAME}): ${result.path}`);
  } else if (!quiet) {
    console.log(`The Jupyter kernel "${DISPLAY_NAME}" is registered: ${result.path}`);
  }
  return { path: result.path, changed };
}

if (import.meta.url === pathToFileURL(process.argv[1] || "").href) {
  const quiet = process.argv.includes("--quiet");
  const fromNpmInstall = process.argv.includes("--postinstall");
  try {
    installKernel({ quiet });
  } catch (err) {
    console.error(
      `Could not register the Jupyter kernel: ${err instanceof Error ? err.message : err}`,
    );
    console.error("Register it later with: node scripts/install-kernel.mjs");
    // After `npm install`, a read-only home must not fail the installation itself.
    process.exit(fromNpmInstall ? 0 : 1);
  }
}
