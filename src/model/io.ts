/**
 * Saving and loading a velocity model (notebooks 06-08): a trained model can be reused by a later
 * notebook, and a teaching assistant can ship one.
 *
 * The file is JSON: `{ format, version, config, numParameters, theta, info }`, where `theta` is the
 * flat parameter array as base64 of little-endian float32 (exact: the loaded model computes the same
 * numbers) and `info` is whatever the caller wants to keep with it (data set, steps, loss...).
 * Writing goes through a temporary file and a rename, so an interrupted save never leaves half a file
 * in place of a good one.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "fs";
import { dirname } from "path";
import { VelocityModel, velocityModelConfig, type VelocityModelConfig } from "./mlp";

/** The `format` field of a saved model. */
export const MODEL_FORMAT = "flow-matching-velocity-model";
/** The file-format version this library writes (and the newest it reads). */
export const MODEL_FORMAT_VERSION = 1;

/** A saved model, as stored in the file. */
export interface SavedModel {
  format: typeof MODEL_FORMAT;
  version: number;
  config: VelocityModelConfig;
  numParameters: number;
  /** base64 of the little-endian float32 parameters. */
  theta: string;
  /** Free-form notes saved with the model. */
  info: Record<string, unknown>;
}

function toBase64(theta: Float32Array): string {
  const bytes = new Uint8Array(theta.length * 4);
  const view = new DataView(bytes.buffer);
  theta.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return Buffer.from(bytes).toString("base64");
}

function fromBase64(text: string, expected: number, source: string): Float32Array {
  const bytes = Buffer.from(text, "base64");
  if (bytes.length !== expected * 4) {
    throw new Error(`${source}: theta holds ${bytes.length / 4} numbers; the architecture needs ${expected}`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const theta = new Float32Array(expected);
  for (let i = 0; i < expected; i++) theta[i] = view.getFloat32(4 * i, true);
  return theta;
}

/** The model as a JSON-ready object (see the module comment). */
export function modelToJson(model: VelocityModel, info: Record<string, unknown> = {}): SavedModel {
  return {
    format: MODEL_FORMAT,
    version: MODEL_FORMAT_VERSION,
    config: model.config,
    numParameters: model.numParameters,
    theta: toBase64(model.theta),
    info,
  };
}

/** Rebuilds a model from `modelToJson`'s object; says what is wrong with a damaged or foreign one. */
export function modelFromJson(saved: unknown, source = "saved model"): VelocityModel {
  const s = saved as Partial<SavedModel> | null;
  if (!s || typeof s !== "object" || s.format !== MODEL_FORMAT) {
    throw new Error(`${source} is not a velocity model saved by this course (format should be "${MODEL_FORMAT}")`);
  }
  if (typeof s.version !== "number" || s.version > MODEL_FORMAT_VERSION) {
    throw new Error(`${source} has format version ${s.version}; this library reads up to version ${MODEL_FORMAT_VERSION}`);
  }
  if (typeof s.theta !== "string") throw new Error(`${source} has no parameters (theta)`);
  const config = velocityModelConfig((s.config ?? {}) as VelocityModelConfig);
  const probe = new VelocityModel(config, undefined);
  const theta = fromBase64(s.theta, probe.numParameters, source);
  for (let i = 0; i < theta.length; i++) {
    if (!Number.isFinite(theta[i])) throw new Error(`${source}: parameter ${i} is ${theta[i]}; a saved model must be finite`);
  }
  return new VelocityModel(config, theta);
}

/**
 * Writes the model to a JSON file (folders created as needed; replaced atomically).
 * @param info notes to keep with it, e.g. `{ data: "moons", steps: 3000 }`
 * @example
 * fm.saveModel(model, "models/moons.json", { data: "moons", steps: 3000 });
 */
export function saveModel(model: VelocityModel, file: string, info: Record<string, unknown> = {}): void {
  if (!(model instanceof VelocityModel)) throw new Error("saveModel: model must be a VelocityModel");
  if (typeof file !== "string" || file === "") throw new Error("saveModel: give a file name, e.g. \"models/moons.json\"");
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(modelToJson(model, info), null, 1) + "\n");
  renameSync(tmp, file);
}

/** Reads a model written by `saveModel`, with the notes saved beside it. */
export function loadModel(file: string): { model: VelocityModel; info: Record<string, unknown> } {
  if (!existsSync(file)) throw new Error(`loadModel: no file ${file}`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`loadModel: ${file} is not valid JSON (${(err as Error).message})`);
  }
  const model = modelFromJson(parsed, file);
  const info = ((parsed as SavedModel).info ?? {}) as Record<string, unknown>;
  return { model, info };
}
