// The course's notebooks as built by the course runner (scripts/notebooks.mjs): executed notebook
// and HTML page of each, rebuilt when missing or older than the notebook or the library.
// Used by the browser and figure tests; not a test file itself.
import { existsSync, readFileSync, readdirSync, statSync } from "fs";
import { join } from "path";
import { pathToFileURL } from "url";

export const ROOT = join(__dirname, "..");
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

export interface Built {
  stem: string;
  notebookPath: string;
  executedPath: string;
  htmlPath: string;
}

interface Runner {
  buildNotebook(
    path: string,
    options?: Record<string, unknown>,
  ): Promise<{ executedPath: string; htmlPath: string; seconds: number; backend: string }>;
}

/**
 * Where the course runner lives; tests that need it are skipped (and say so) while it is absent.
 */
export const RUNNER_PATH = join(ROOT, "scripts", "notebooks.mjs");
export const HAVE_RUNNER = existsSync(RUNNER_PATH);

/** The course runner's module (loaded at run time: it is plain JavaScript). */
export async function runner(): Promise<Runner> {
  const path = RUNNER_PATH;
  if (!existsSync(path)) throw new Error(`the course runner ${path} is missing`);
  const mod = (await import(pathToFileURL(path).href)) as Partial<Runner>;
  if (typeof mod.buildNotebook !== "function")
    throw new Error(`${path} does not export buildNotebook(path)`);
  return mod as Runner;
}

/** Newest modification time of the files under `dir` (recursively). */
function newest(dir: string): number {
  let t = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, entry.name);
    t = Math.max(t, entry.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** The course's notebooks in lecture order. */
export function courseNotebooks(): string[] {
  const dir = join(ROOT, "notebooks");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".ipynb"))
    .sort()
    .map((f) => join(dir, f));
}

/**
 * Builds (or reuses, when newer than the notebook and every file in src/) a notebook's executed
 * copy and HTML page.
 */
export async function built(notebookPath: string, buildDir = join(ROOT, "build")): Promise<Built> {
  const stem = notebookPath
    .split("/")
    .pop()!
    .replace(/\.ipynb$/, "");
  const executedPath = join(buildDir, `${stem}.ipynb`);
  const htmlPath = join(buildDir, `${stem}.html`);
  const inputs = Math.max(statSync(notebookPath).mtimeMs, newest(join(ROOT, "src")));
  const fresh = [executedPath, htmlPath].every(
    (p) => existsSync(p) && statSync(p).mtimeMs > inputs,
  );
  if (fresh) return { stem, notebookPath, executedPath, htmlPath };
  const r = await (await runner()).buildNotebook(notebookPath);
  return { stem, notebookPath, executedPath: r.executedPath, htmlPath: r.htmlPath };
}

/** Every course notebook, built. */
export async function courseBuilds(): Promise<Built[]> {
  const out: Built[] = [];
  for (const nb of courseNotebooks()) out.push(await built(nb));
  return out;
}

/** The number of display outputs carrying plotly's MIME type (one per `show` call). */
export function plotlyOutputs(executedPath: string): number {
  const nb = JSON.parse(readFileSync(executedPath, "utf8")) as {
    cells: { outputs?: { data?: Record<string, unknown> }[] }[];
  };
  let n = 0;
  for (const cell of nb.cells)
    for (const o of cell.outputs ?? []) if (o.data && PLOTLY_MIME in o.data) n++;
  return n;
}
