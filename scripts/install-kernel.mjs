#!/usr/bin/env node
// Registers the course's Jupyter kernel, "Flow matching (TypeScript)", for the current user.
//
//   node scripts/install-kernel.mjs           (run by `npm start`, `npm test` and after `npm install`)
//   node scripts/install-kernel.mjs --quiet   only print when something changed or went wrong
//
// Writes <Jupyter data dir>/kernels/flow-matching/kernel.json, which Jupyter Lab, classic Notebook,
// nbclient and VS Code all read. The data dir is $JUPYTER_DATA_DIR when set, else
//   Linux:   $XDG_DATA_HOME/jupyter, or ~/.local/share/jupyter
//   macOS:   ~/Library/Jupyter
//   Windows: %APPDATA%\jupyter
// The kernelspec starts scripts/kernel.js of this copy of the course with this Node.js (absolute
// paths). Written without tslab's installer (which needs IPython) and idempotent: an unchanged
// kernelspec is left alone.
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const KERNEL_NAME = "flow-matching";
export const DISPLAY_NAME = "Flow matching (TypeScript)";
export const LAUNCHER = join(ROOT, "scripts", "kernel.js");

/** The kernelspec metadata every course notebook carries (tests check it). */
export const NOTEBOOK_KERNELSPEC = { name: KERNEL_NAME, display_name: DISPLAY_NAME, language: "typescript" };

/** The kernel.json object for this copy of the course, started with `node` (default: this Node.js). */
export function kernelSpec(node = process.execPath) {
  return {
    argv: [node, LAUNCHER, "--config-path", "{connection_file}"],
    display_name: DISPLAY_NAME,
    language: "typescript",
    interrupt_mode: "signal",
    metadata: { debugger: false, course_root: ROOT },
  };
}

/** The user's Jupyter data directory (see the header), honouring JUPYTER_DATA_DIR. */
export function jupyterDataDir(env = process.env, platform = process.platform) {
  if (env.JUPYTER_DATA_DIR) return resolve(env.JUPYTER_DATA_DIR);
  if (platform === "darwin") return join(homedir(), "Library", "Jupyter");
  if (platform === "win32") return join(env.APPDATA || join(homedir(), "AppData", "Roaming"), "jupyter");
  return join(env.XDG_DATA_HOME || join(homedir(), ".local", "share"), "jupyter");
}

/**
 * Writes the kernelspec into `<kernelsDir>/flow-matching/kernel.json` unless an identical one is
 * there. Atomic (write then rename), so concurrent writers never leave half a file.
 * @returns {{ path: string, changed: boolean }}
 */
export function writeKernelSpec(kernelsDir, spec = kernelSpec()) {
  const dir = join(kernelsDir, KERNEL_NAME);
  const path = join(dir, "kernel.json");
  const text = JSON.stringify(spec, null, 2) + "\n";
  if (existsSync(path) && readFileSync(path, "utf8") === text) return { path, changed: false };
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
  return { path, changed: true };
}

/**
 * Registers the kernel for the current user.
 * @param {{ quiet?: boolean, dataDir?: string }} options quiet: print only when it changed
 * @returns {{ path: string, changed: boolean }}
 */
export function installKernel({ quiet = false, dataDir = jupyterDataDir() } = {}) {
  const result = writeKernelSpec(join(dataDir, "kernels"));
  if (result.changed) {
    console.log(`Registered the Jupyter kernel "${DISPLAY_NAME}" (${KERNEL_NAME}): ${result.path}`);
  } else if (!quiet) {
    console.log(`The Jupyter kernel "${DISPLAY_NAME}" is registered: ${result.path}`);
  }
  return result;
}

if (import.meta.url === pathToFileURL(process.argv[1] || "").href) {
  const quiet = process.argv.includes("--quiet");
  const fromNpmInstall = process.argv.includes("--postinstall");
  try {
    installKernel({ quiet });
  } catch (err) {
    console.error(`Could not register the Jupyter kernel: ${err instanceof Error ? err.message : err}`);
    console.error("Register it later with: node scripts/install-kernel.mjs");
    // After `npm install`, a read-only home must not fail the installation itself.
    process.exit(fromNpmInstall ? 0 : 1);
  }
}
