/**
 * Which TensorFlow.js backend does the arithmetic.
 *
 * Preference order, best first:
 *   1. `node-gpu`: `@tensorflow/tfjs-node-gpu` (native TensorFlow with CUDA), where installed;
 *   2. `node`:     `@tensorflow/tfjs-node` (native TensorFlow on the CPU), where installed;
 *   3. `wasm`: `@tensorflow/tfjs-backend-wasm` (XNNPACK kernels, always installed with the course);
 *   4. `cpu`: the pure-JavaScript backend bundled with `@tensorflow/tfjs` (slow, always there).
 *
 * Force one with the environment variable `FM_BACKEND=node|node-gpu|wasm|cpu` or with
 * `initBackend({ backend: "cpu" })`. A forced backend that is not installed is an error that
 * names the package to install. The choice is printed once per process.
 */
import * as tf from "@tensorflow/tfjs";

/** The backends the course knows, in order of preference. */
export const BACKENDS = ["node-gpu", "node", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKENDS)[number];

/** What `initBackend` chose and why. */
export interface BackendInfo {
  /** The course's name for the backend. */
  name: BackendName;
  /** The name TensorFlow.js registers it under (`tf.getBackend()`). */
  tfName: string;
  /** `"forced by FM_BACKEND"`, `"forced by initBackend"` or `"best available"`. */
  reason: string;
  /** The better backends that were not available, with the reason each was skipped. */
  skipped: string[];
}

export interface InitBackendOptions {
  /**
   * Force this backend; an error if it is not installed. @default process.env.FM_BACKEND, else the
   * best available
   */
  backend?: BackendName;
  /** Do not print the choice. @default false */
  quiet?: boolean;
}

const PACKAGES: Record<BackendName, string> = {
  "node-gpu": "@tensorflow/tfjs-node-gpu",
  node: "@tensorflow/tfjs-node",
  wasm: "@tensorflow/tfjs-backend-wasm",
  cpu: "@tensorflow/tfjs",
};

let current: BackendInfo | null = null;
let pending: Promise<BackendInfo> | null = null;
let announced = false;

function isBackendName(s: string): s is BackendName {
  return (BACKENDS as readonly string[]).includes(s);
}

/**
 * Loads the package behind a backend and returns the name TensorFlow.js registers, or throws why
 * not.
 */
function load(name: BackendName): string {
  switch (name) {
    case "node-gpu":
    case "node":
      // Both native builds register themselves as "tensorflow".
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      require(PACKAGES[name]);
      return "tensorflow";
    case "wasm":
      require(PACKAGES.wasm);
      return "wasm";
    case "cpu":
      return "cpu";
  }
}

/** A short reason from a failed `require`, for the printed message. */
function whyMissing(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return /Cannot find module/.test(msg) ? "not installed" : `failed to load: ${msg.split("\n")[0]}`;
}

async function activate(name: BackendName, tfName: string): Promise<void> {
  const ok = await tf.setBackend(tfName);
  if (!ok)
    throw new Error(`TensorFlow.js could not initialise the ${name} backend (${PACKAGES[name]}).`);
  await tf.ready();
  if (tfName === "cpu") {
    // The cpu backend prints a banner about the native backend on first use; our own line says it
    // instead.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
}

async function choose(options: InitBackendOptions): Promise<BackendInfo> {
  const env = (typeof process !== "undefined" && process.env.FM_BACKEND) || "";
  let forced: BackendName | undefined;
  let reason = "best available";
  if (options.backend !== undefined) {
    if (!isBackendName(options.backend)) {
      throw new Error(
        `Unknown backend "${options.backend}"; choose one of ${BACKENDS.join(", ")}.`,
      );
    }
    forced = options.backend;
    reason = "forced by initBackend";
  } else if (env !== "") {
    if (!isBackendName(env)) {
      throw new Error(
        `FM_BACKEND="${env}" is not a backend; choose one of ${BACKENDS.join(", ")}.`,
      );
    }
    forced = env;
    reason = "forced by FM_BACKEND";
  }

  if (forced) {
    let tfName: string;
    try {
      tfName = load(forced);
    } catch (err) {
      throw new Error(
        `The ${forced} backend was requested (${reason}) but ${PACKAGES[forced]} is ` +
          `${whyMissing(err)}. ` +
          `Install it with: npm install ${PACKAGES[forced]}@${tf.version_core}`,
      );
    }
    await activate(forced, tfName);
    return { name: forced, tfName, reason, skipped: [] };
  }

  const skipped: string[] = [];
  for (const name of BACKENDS) {
    let tfName: string;
    try {
      tfName = load(name);
    } catch (err) {
      skipped.push(`${name} (${PACKAGES[name]} ${whyMissing(err)})`);
      continue;
    }
    try {
      await activate(name, tfName);
    } catch (err) {
      skipped.push(`${name} (${err instanceof Error ? err.message : String(err)})`);
      continue;
    }
    return { name, tfName, reason, skipped };
  }
  throw new Error("No TensorFlow.js backend could be initialised, not even cpu.");
}

/**
 * Chooses and activates the backend (once per process; later calls return the same choice unless
 * they force a different backend). Prints one line saying which backend is in use.
 *
 * @example
 * const info = await initBackend(); // prints: "TensorFlow.js backend: wasm (best available; ...)"
 * info.name; // returns "wasm" on a machine without tfjs-node
 */
export async function initBackend(options: InitBackendOptions = {}): Promise<BackendInfo> {
  if (current && (options.backend === undefined || options.backend === current.name))
    return current;
  if (pending && options.backend === undefined) return pending;
  pending = choose(options);
  try {
    current = await pending;
  } finally {
    pending = null;
  }
  if (!options.quiet && !announced) {
    announced = true;
    console.log(describeBackend(current));
  }
  return current;
}

/** The backend chosen so far, or null before `initBackend` has run. */
export function backendInfo(): BackendInfo | null {
  return current;
}

/** One line for a person: which backend, why, and what a faster one would need. */
export function describeBackend(info: BackendInfo): string {
  const skipped = info.skipped.length ? `; skipped: ${info.skipped.join(", ")}` : "";
  return `TensorFlow.js backend: ${info.name} (${info.reason}${skipped})`;
}
