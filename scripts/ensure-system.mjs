#!/usr/bin/env node
// Before the tests (`npm test` runs this as "pretest"): the system pieces npm cannot install.
//
//   - Jupyter's client for Python (nbclient, nbformat, nbconvert, jupyter_client): the notebook
//     tests execute every notebook through it;
//   - Chromium: the figure export and the browser test draw the figures in it;
//   - classic Jupyter Notebook (6.x): tests/classic-notebook.test.ts runs a notebook in it.
//
// When one is missing and we are root on Debian (or Ubuntu), it runs `apt-get update` once and
// `apt-get install -y jupyter-client python3-nbclient python3-nbformat jupyter-nbconvert chromium
// libjs-mathjax fonts-mathjax libjs-requirejs jupyter-notebook`.
// Anywhere else it says exactly what to install and exits non-zero. Then it registers the course's
// Jupyter kernel. With everything present it only checks (well under a second).
import { existsSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { pathToFileURL } from "node:url";
import { installKernel } from "./install-kernel.mjs";

export const JUPYTER_DEBIAN_PACKAGES = [
  "jupyter-client",
  "python3-nbclient",
  "python3-nbformat",
  "jupyter-nbconvert",
];
export const JUPYTER_PIP_PACKAGES = ["nbclient", "nbformat", "nbconvert", "jupyter_client"];
/**
 * What the course's HTML pages load from Debian's nbconvert template: MathJax (the LaTeX) and
 * require.js.
 */
export const PAGE_ASSET_PACKAGES = ["libjs-mathjax", "fonts-mathjax", "libjs-requirejs"];
export const PAGE_ASSETS = [
  "/usr/share/javascript/mathjax/MathJax.js",
  "/usr/share/javascript/requirejs/require.min.js",
];
/** Classic Jupyter Notebook (6.x), for the tests only (the course build does not need it). */
export const CLASSIC_DEBIAN_PACKAGES = ["jupyter-notebook"];
export const DEBIAN_PACKAGES = [
  ...JUPYTER_DEBIAN_PACKAGES,
  "chromium",
  ...PAGE_ASSET_PACKAGES,
  ...CLASSIC_DEBIAN_PACKAGES,
];
export const CHROMIUM = process.env.CHROMIUM_PATH || "/usr/bin/chromium";

/** The Pythons the course runner tries, in its order ($FM_PYTHON alone when set). */
function pythonCandidates() {
  if (process.env.FM_PYTHON) return [process.env.FM_PYTHON];
  return process.platform === "win32"
    ? ["python", "py"]
    : ["/usr/bin/python3", "python3", "python"];
}

/**
 * True when some candidate Python can import Jupyter's client pieces (checked without importing
 * them).
 */
function haveJupyterClient() {
  const check =
    `import importlib.util as u, sys; sys.exit(0 if all(u.find_spec(m) for m in ` +
    `${JSON.stringify(JUPYTER_PIP_PACKAGES)}) else 3)`;
  return pythonCandidates().some(
    (python) => spawnSync(python, ["-c", check], { stdio: "ignore", timeout: 30_000 }).status === 0,
  );
}

/**
 * True when some candidate Python has classic Jupyter Notebook (version 6 or older; 7 is another
 * interface).
 */
export function haveClassicNotebook() {
  const check =
    "import notebook, sys; sys.exit(0 if int(notebook.__version__.split('.')[0]) < 7 else 3)";
  return pythonCandidates().some(
    (python) => spawnSync(python, ["-c", check], { stdio: "ignore", timeout: 30_000 }).status === 0,
  );
}

/**
 * What is missing: { jupyter, chromium, assets, classic } (booleans). `assets` is checked on
 * Debian only, whose nbconvert points the HTML pages at the local MathJax and require.js
 * (elsewhere it links a CDN).
 */
export function missingPieces() {
  return {
    jupyter: !haveJupyterClient(),
    chromium: !existsSync(CHROMIUM),
    assets: isDebian() && !PAGE_ASSETS.every((f) => existsSync(f)),
    classic: !haveClassicNotebook(),
  };
}

const isRoot = () => typeof process.getuid === "function" && process.getuid() === 0;
const isDebian = () =>
  process.platform === "linux" &&
  existsSync("/etc/debian_version") &&
  existsSync("/usr/bin/apt-get");

function apt(args) {
  console.log(`$ apt-get ${args.join(" ")}`);
  const r = spawnSync("apt-get", args, {
    stdio: "inherit",
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
  });
  if (r.status !== 0) throw new Error(`apt-get ${args[0]} failed (exit ${r.status ?? r.signal})`);
}

function explain(missing) {
  const lines = ["The course needs system packages that npm does not install:"];
  if (missing.jupyter) {
    lines.push(`  Jupyter's client for Python (looked in: ${pythonCandidates().join(", ")}):`);
    lines.push(`    Debian/Ubuntu: sudo apt-get install ${JUPYTER_DEBIAN_PACKAGES.join(" ")}`);
    lines.push(
      `    elsewhere:     pip install ${JUPYTER_PIP_PACKAGES.join(" ")}   (and set FM_PYTHON to ` +
        `that python)`,
    );
  }
  if (missing.chromium) {
    lines.push(`  Chromium (looked for ${CHROMIUM}):`);
    lines.push("    Debian/Ubuntu: sudo apt-get install chromium");
    lines.push(
      "    elsewhere:     install Chromium or Chrome and set CHROMIUM_PATH=/path/to/the/browser",
    );
  }
  if (missing.assets) {
    lines.push(
      "  MathJax and require.js for the course's HTML pages (Debian's nbconvert links them " +
        "locally):",
    );
    lines.push(`    sudo apt-get install ${PAGE_ASSET_PACKAGES.join(" ")}`);
  }
  if (missing.classic) {
    lines.push("  Classic Jupyter Notebook (6.x), for the test that runs a notebook in it:");
    lines.push(`    Debian/Ubuntu: sudo apt-get install ${CLASSIC_DEBIAN_PACKAGES.join(" ")}`);
    lines.push('    elsewhere:     pip install "notebook<7"   (in the Python FM_PYTHON names)');
  }
  if (isDebian() && !isRoot()) lines.push("  (as root, `npm test` installs them itself)");
  return lines.join("\n");
}

/**
 * Installs (as root on Debian) or explains what is missing. `forBuild` is the course build's need
 * (`npm start`: Jupyter's client and the pages' MathJax, no browser); otherwise the tests' (all
 * three).
 */
export function ensureSystem({ forBuild = false } = {}) {
  const relevant = (m) => (forBuild ? { ...m, chromium: false, classic: false } : m);
  let missing = relevant(missingPieces());
  const anyMissing = (m) => m.jupyter || m.chromium || m.assets || m.classic;
  if (anyMissing(missing)) {
    if (!(isRoot() && isDebian())) {
      console.error(explain(missing));
      return 1;
    }
    const what = [
      missing.jupyter && "Jupyter's client",
      missing.chromium && "Chromium",
      missing.assets && "MathJax",
      missing.classic && "classic Notebook",
    ]
      .filter(Boolean)
      .join(" and ");
    console.log(
      `Installing ${what} from Debian (the ${forBuild ? "course build needs" : "tests need"} ` +
        `them).`,
    );
    apt(["update"]);
    apt(["install", "-y", ...DEBIAN_PACKAGES]);
    missing = relevant(missingPieces());
    if (anyMissing(missing)) {
      console.error(`Still missing after apt-get install.\n${explain(missing)}`);
      return 1;
    }
  }
  installKernel({ quiet: true });
  return 0;
}

if (import.meta.url === pathToFileURL(process.argv[1] || "").href) {
  try {
    process.exit(ensureSystem({ forBuild: process.argv.includes("--build") }));
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  }
}
