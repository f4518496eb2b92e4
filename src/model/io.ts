/**
 * Saving and loading a velocity model (notebooks 06-08): a trained model can be reused by a later
 * notebook, and a teaching assistant can ship one.
 *
 * The file is JSON: `{ format, version, config, numParameters, theta, checksum, info }`, where
 * `theta` is the flat parameter array as base64 of little-endian float32 (exact: the loaded model
 * computes the same numbers), `checksum` is `"sha256:<hex>"` of the architecture and the parameters
 * (see `modelChecksum`), and `info` is whatever the caller wants to keep with it (data set, steps,
 * loss...; not covered by the checksum, so it may be edited by hand).
 *
 * Versions: 2 (written now) carries the checksum, and a file whose checksum does not match is
 * reported as damaged. 1 (written before the checksum existed) has none: it still loads, after the
 * same size and finiteness checks, and `loadModel` says so in its `checksum` field
 * (`"none (version 1 file)"`); save it again to add one.
 *
 * Safety: the declared sizes are checked against the data before anything is allocated; loading
 * draws nothing from the seeded random stream; a model with a non-finite parameter is refused at
 * save, naming the parameter. Writing goes through a temporary file and a rename, so a failed save
 * (full disk, a directory in the way) leaves the previous file as it was and no temporary file.
 */
import { createHash } from "crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "fs";
import { dirname } from "path";
import { timeFeatures, VelocityModel, velocityModelConfig, type VelocityModelConfig } from "./mlp";

/** The `format` field of a saved model. */
export const MODEL_FORMAT = "flow-matching-velocity-model";
/** The file-format version this library writes (2: with a checksum). */
export const MODEL_FORMAT_VERSION = 2;
/** Every version this library reads. */
export const KNOWN_MODEL_VERSIONS: readonly number[] = [1, 2];

/** A saved model, as stored in the file. */
export interface SavedModel {
  format: typeof MODEL_FORMAT;
  version: number;
  config: VelocityModelConfig;
  numParameters: number;
  /** base64 of the little-endian float32 parameters. */
  theta: string;
  /** `"sha256:<hex>"` of config, numParameters and theta (version 2; absent in version 1). */
  checksum?: string;
  /** Free-form notes saved with the model. */
  info: Record<string, unknown>;
}

/** What `loadModel` returns. */
export interface LoadedModel {
  model: VelocityModel;
  info: Record<string, unknown>;
  /** `"sha256 verified"`, or `"none (version 1 file)"` for a file saved before checksums. */
  checksum: string;
}

function toBase64(theta: Float32Array): string {
  const bytes = new Uint8Array(theta.length * 4);
  const view = new DataView(bytes.buffer);
  theta.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return Buffer.from(bytes).toString("base64");
}

/** JSON with object keys sorted at every level: the same text whatever order a file had. */
function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value as object)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value);
}

/**
 * The checksum of a saved model: SHA-256 (Node's crypto) of the canonical JSON of `config` and
 * `numParameters`, a newline, and the base64 text of `theta`.
 */
export function modelChecksum(
  saved: Pick<SavedModel, "config" | "numParameters" | "theta">,
): string {
  const hash = createHash("sha256");
  hash.update(canonicalJson({ config: saved.config, numParameters: saved.numParameters }));
  hash.update("\n");
  hash.update(saved.theta);
  return `sha256:${hash.digest("hex")}`;
}

/** The number of parameters an architecture has (computed without building anything). */
function parameterCount(config: VelocityModelConfig): number {
  const sizes = [
    config.dim + timeFeatures(config.time),
    ...Array<number>(config.depth).fill(config.width),
    config.dim,
  ];
  let count = 0;
  for (let i = 0; i + 1 < sizes.length; i++) count += sizes[i] * sizes[i + 1] + sizes[i + 1];
  return count;
}

/** Where parameter `index` sits: "layer 2, W[3][0]" (W is [inputs, outputs]) or "layer 0, b[5]". */
export function describeParameter(model: VelocityModel, index: number): string {
  const layer = model.layers.findIndex((l) => index < l.offset + l.inputs * l.outputs + l.outputs);
  if (layer < 0) return `index ${index} (beyond the ${model.numParameters} parameters)`;
  const { inputs, outputs, offset } = model.layers[layer];
  const k = index - offset;
  if (k < inputs * outputs) return `layer ${layer}, W[${Math.floor(k / outputs)}][${k % outputs}]`;
  return `layer ${layer}, b[${k - inputs * outputs}]`;
}

/** The model as a JSON-ready object (see the module comment); refuses non-finite parameters. */
export function modelToJson(model: VelocityModel, info: Record<string, unknown> = {}): SavedModel {
  if (!(model instanceof VelocityModel))
    throw new Error("modelToJson: model must be a VelocityModel");
  const theta = model.theta;
  for (let i = 0; i < theta.length; i++) {
    if (!Number.isFinite(theta[i])) {
      throw new Error(
        `cannot save a model with a non-finite parameter: parameter ${i} ` +
          `(${describeParameter(model, i)}) ` +
          `is ${theta[i]} (training diverged? lower the learning rate); nothing was written`,
      );
    }
  }
  const saved = {
    config: model.config,
    numParameters: model.numParameters,
    theta: toBase64(theta),
  };
  return {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    ...saved,
    checksum: modelChecksum(saved),
    info,
  };
}

/**
 * Rebuilds a model from `modelToJson`'s object; says what is wrong with a damaged or foreign one.
 */
export function modelFromJson(saved: unknown, source = "saved model"): VelocityModel {
  return readSaved(saved, source).model;
}

function readSaved(saved: unknown, source: string): { model: VelocityModel; checksum: string } {
  const s = saved as Partial<SavedModel> | null;
  if (!s || typeof s !== "object" || s.format !== MODEL_FORMAT) {
    throw new Error(
      `${source} is not a velocity model saved by this course (format should be "${MODEL_FORMAT}")`,
    );
  }
  if (typeof s.version !== "number" || !KNOWN_MODEL_VERSIONS.includes(s.version)) {
    throw new Error(
      `${source} has format version ${JSON.stringify(s.version)}; this library reads versions ` +
        `${KNOWN_MODEL_VERSIONS.join(" and ")} (a newer file needs a newer course library)`,
    );
  }
  if (typeof s.theta !== "string") throw new Error(`${source} has no parameters (theta)`);
  let config: VelocityModelConfig;
  try {
    config = velocityModelConfig((s.config ?? {}) as VelocityModelConfig);
  } catch (err) {
    throw new Error(`${source}: its architecture (config) is invalid: ${(err as Error).message}`);
  }
  // Sizes against the data, before anything is allocated.
  const expected = parameterCount(config);
  const bytes = base64Bytes(s.theta);
  if (bytes !== expected * 4) {
    throw new Error(
      `${source}: theta holds ${bytes / 4} numbers; the architecture (dim ${config.dim}, width ` +
        `${config.width}, depth ${config.depth}) needs ${expected}: the file is damaged or was ` +
        `edited`,
    );
  }
  if (s.numParameters !== undefined && s.numParameters !== expected) {
    throw new Error(
      `${source}: numParameters is ${s.numParameters}; the architecture has ${expected}`,
    );
  }
  let checksum = "none (version 1 file)";
  if (s.version >= 2) {
    if (typeof s.checksum !== "string") {
      throw new Error(
        `${source}: a version ${s.version} file must carry a checksum; it has none (damaged?)`,
      );
    }
    const actual = modelChecksum({
      config: s.config as VelocityModelConfig,
      numParameters: s.numParameters as number,
      theta: s.theta,
    });
    if (actual !== s.checksum) {
      throw new Error(
        `${source} is damaged: its checksum does not match its contents (the architecture or the ` +
          `parameters changed after saving); train and save it again, or restore a good copy`,
      );
    }
    checksum = "sha256 verified";
  }
  const raw = Buffer.from(s.theta, "base64");
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const theta = new Float32Array(expected);
  for (let i = 0; i < expected; i++) theta[i] = view.getFloat32(4 * i, true);
  for (let i = 0; i < theta.length; i++) {
    if (!Number.isFinite(theta[i]))
      throw new Error(`${source}: parameter ${i} is ${theta[i]}; a saved model must be finite`);
  }
  return { model: new VelocityModel(config, theta), checksum };
}

/** The number of bytes a base64 text decodes to, refusing text that is not base64. */
function base64Bytes(text: string): number {
  const body = text.replace(/=+$/, "");
  if (!/^[A-Za-z0-9+/]*$/.test(body) || text.length % 4 === 1) {
    const bad = body.search(/[^A-Za-z0-9+/]/);
    throw new Error(
      `theta is not base64 (character ${bad} is ${JSON.stringify(body[bad] ?? "")}): the file is ` +
        `damaged`,
    );
  }
  return Math.floor((body.length * 3) / 4);
}

/** A file-system error in words a reader can act on. */
function explainFsError(err: unknown, file: string): string {
  const e = err as NodeJS.ErrnoException;
  const why: Record<string, string> = {
    ENOSPC: "no space left on the device (the disk is full)",
    EDQUOT: "the disk quota is used up",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EROFS: "the file system is read-only",
    EISDIR: `${file} is a directory`,
    ENOTDIR: `a part of the path ${file} is a file, not a folder`,
    EEXIST: `a part of the path ${file} is a file, not a folder`, // from mkdir
    ENAMETOOLONG: "the file name is too long",
  };
  return `${why[e?.code ?? ""] ?? e?.message ?? String(err)}${e?.code ? ` (${e.code})` : ""}`;
}

/**
 * Writes the model to a JSON file (folders created as needed; replaced atomically). A failed save
 * removes its temporary file, leaves any previous file untouched and says what went wrong.
 * @param info notes to keep with it, e.g. `{ data: "moons", steps: 3000 }`
 * @example
 * fm.saveModel(model, "models/moons.json", { data: "moons", steps: 3000 });
 */
export function saveModel(
  model: VelocityModel,
  file: string,
  info: Record<string, unknown> = {},
): void {
  if (!(model instanceof VelocityModel))
    throw new Error("saveModel: model must be a VelocityModel");
  if (typeof file !== "string" || file === "")
    throw new Error('saveModel: give a file name, e.g. "models/moons.json"');
  if (existsSync(file) && statSync(file).isDirectory()) {
    throw new Error(
      `saveModel: ${file} is a directory; give a file name inside it, e.g. ` +
        `${file.replace(/\/*$/, "")}/model.json`,
    );
  }
  let text: string;
  try {
    text = JSON.stringify(modelToJson(model, info), null, 1) + "\n";
  } catch (err) {
    throw new Error(`saveModel: ${(err as Error).message}`);
  }
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // No tmp file could have been made there (e.g. a part of the path is a file).
    }
    throw new Error(
      `saveModel: could not write ${file}: ${explainFsError(err, file)}; any previous file there ` +
        `is unchanged`,
    );
  }
}

/**
 * Reads a model written by `saveModel`, with the notes saved beside it and whether its checksum was
 * verified (see the module comment for version 1 files). Draws nothing from the random stream.
 */
export function loadModel(file: string): LoadedModel {
  if (typeof file !== "string" || file === "")
    throw new Error('loadModel: give a file name, e.g. "models/moons.json"');
  if (!existsSync(file)) throw new Error(`loadModel: no file ${file}`);
  if (statSync(file).isDirectory())
    throw new Error(`loadModel: ${file} is a directory, not a model file`);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new Error(`loadModel: could not read ${file}: ${explainFsError(err, file)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`loadModel: ${file} is not valid JSON (${(err as Error).message})`);
  }
  const { model, checksum } = readSaved(parsed, file);
  const info = ((parsed as SavedModel).info ?? {}) as Record<string, unknown>;
  return { model, info, checksum };
}
