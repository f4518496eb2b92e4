/**
 * The files of notebook 09's shipped models (`assets/models/mnist-*.json`): a class-conditional
 * velocity model, a digit classifier or the PCA codec, with the recipe that made it.
 *
 * A sibling of the velocity-model format of src/model/io.ts, made for models ~100 times larger:
 *
 *     { format, version, kind, config, numParameters, dtype, sha256, theta, recipe, info }
 *
 * - `theta`: the flat parameters as base64 of little-endian `float32`, or of IEEE `float16`
 *   (half the size; rounding to nearest, relative error below 2^-11, which changes the samples far
 *   less than the model's own error: the notebook measures the model as loaded).
 * - `sha256`: SHA-256 of the stored parameter bytes, checked on loading, so a damaged or edited
 *   file is an error rather than a different model.
 * - `recipe`: everything needed to train the same model again (data split, seeds, architecture,
 *   every hyper-parameter, backend); `info`: what was measured when it was trained (loss trace,
 *   wall time, machine).
 * Writing creates the folder if needed and goes through a temporary file and a rename: an
 * interrupted or failed save leaves the old file intact and no temporary file behind.
 */
import { createHash } from "crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "fs";
import { dirname } from "path";
import {
  layerLayout,
  modelSizes,
  VelocityModel,
  velocityModelConfig,
  type VelocityModelConfig,
} from "../model/mlp";
import { Classifier, type ClassifierConfig } from "./classifier";
import { ImageCodec } from "./codec";

/** The `format` field of these files. */
export const IMAGE_MODEL_FORMAT = "flow-matching-image-model";
/** The version this library writes and reads. */
export const IMAGE_MODEL_VERSION = 1;

/** How the parameters are stored. */
export type ParameterDtype = "float32" | "float16";

/** The file's content. */
export interface SavedImageModel {
  format: typeof IMAGE_MODEL_FORMAT;
  version: number;
  kind: "velocity" | "classifier" | "codec";
  config: VelocityModelConfig | ClassifierConfig | CodecConfig;
  numParameters: number;
  dtype: ParameterDtype;
  sha256: string;
  theta: string;
  recipe: Record<string, unknown>;
  info: Record<string, unknown>;
}

/** A codec's configuration in the file; its numbers (mean, basis, variances) are the parameters. */
export interface CodecConfig {
  pixels: number;
  k: number;
  scale: number;
}

/** What a file holds besides the model. */
interface Saved {
  recipe: Record<string, unknown>;
  info: Record<string, unknown>;
  dtype: ParameterDtype;
  /** SHA-256 of the stored parameter bytes (what recipes of other models refer to). */
  sha256: string;
}

/** A loaded file: the model and what was saved with it. */
export type LoadedImageModel =
  | ({ kind: "velocity"; model: VelocityModel } & Saved)
  | ({ kind: "classifier"; model: Classifier } & Saved)
  | ({ kind: "codec"; model: ImageCodec } & Saved);

/** A codec's numbers in one array: the mean, the basis (rows), the variances. */
function codecParameters(codec: ImageCodec): Float32Array {
  const out = new Float32Array(codec.pixels + codec.k * codec.pixels + codec.k);
  out.set(codec.mean, 0);
  out.set(codec.basis, codec.pixels);
  out.set(codec.variances, codec.pixels + codec.k * codec.pixels);
  return out;
}

const scratch = new DataView(new ArrayBuffer(4));

/**
 * float32 -> IEEE half precision bits, rounding to nearest (ties to even). Throws beyond +-65504.
 */
export function toFloat16(values: Float32Array): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v) || Math.abs(v) > 65504) {
      throw new Error(
        `toFloat16: parameter ${i} is ${v}; half precision holds finite numbers up to 65504`,
      );
    }
    scratch.setFloat32(0, v, true);
    const bits = scratch.getUint32(0, true);
    const sign = (bits >>> 16) & 0x8000;
    const exponent = (bits >>> 23) & 0xff;
    const mantissa = bits & 0x7fffff;
    let half: number;
    if (exponent < 103)
      half = 0; // below half the smallest subnormal: rounds to zero
    else if (exponent < 113) {
      // subnormal half: shift the mantissa (with its hidden bit) and round to nearest even
      const m = mantissa | 0x800000;
      const shift = 126 - exponent;
      const rounded = m >>> shift;
      const rest = m & ((1 << shift) - 1);
      const halfway = 1 << (shift - 1);
      half = rounded + (rest > halfway || (rest === halfway && rounded & 1) ? 1 : 0);
    } else {
      half = ((exponent - 112) << 10) | (mantissa >>> 13);
      const rest = mantissa & 0x1fff;
      // may carry into the exponent: still right
      if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
    }
    out[i] = sign | half;
  }
  return out;
}

/** IEEE half precision bits -> float32 (exact). */
export function fromFloat16(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) {
    const h = bits[i];
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    out[i] =
      e === 0
        ? sign * m * 2 ** -24
        : e === 31
          ? m
            ? NaN
            : sign * Infinity
          : sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  return out;
}

/** The little-endian bytes of the parameters in `dtype`. */
function parameterBytes(theta: Float32Array, dtype: ParameterDtype): Buffer {
  if (dtype === "float16") {
    const half = toFloat16(theta);
    const bytes = Buffer.alloc(half.length * 2);
    half.forEach((v, i) => bytes.writeUInt16LE(v, 2 * i));
    return bytes;
  }
  const bytes = Buffer.alloc(theta.length * 4);
  theta.forEach((v, i) => bytes.writeFloatLE(v, 4 * i));
  return bytes;
}

/** Where parameter i sits (layer and index inside it), for messages. */
function whereIs(
  layers: readonly { inputs: number; outputs: number; offset: number }[],
  i: number,
): string {
  const k = layers.findIndex(
    (l) => i >= l.offset && i < l.offset + l.inputs * l.outputs + l.outputs,
  );
  const l = layers[k];
  const inner = i - l.offset;
  return inner < l.inputs * l.outputs
    ? `layer ${k}, W[${Math.floor(inner / l.outputs)}][${inner % l.outputs}]`
    : `layer ${k}, b[${inner - l.inputs * l.outputs}]`;
}

/**
 * Writes a velocity model or a classifier with its recipe (see the module comment). Refuses a
 * parameter that is not finite, naming it.
 * @example
 * fm.saveImageModel(model, "models/my-digits.json", { dtype: "float16", recipe, info: { losses }
 * });
 */
export function saveImageModel(
  model: VelocityModel | Classifier | ImageCodec,
  file: string,
  options: {
    dtype?: ParameterDtype;
    recipe?: Record<string, unknown>;
    info?: Record<string, unknown>;
  } = {},
): void {
  const kind =
    model instanceof VelocityModel
      ? "velocity"
      : model instanceof Classifier
        ? "classifier"
        : model instanceof ImageCodec
          ? "codec"
          : null;
  if (kind === null)
    throw new Error("saveImageModel: model must be a VelocityModel, a Classifier or an ImageCodec");
  if (typeof file !== "string" || file === "")
    throw new Error('saveImageModel: give a file name, e.g. "models/digits.json"');
  const dtype = options.dtype ?? "float32";
  if (dtype !== "float32" && dtype !== "float16")
    throw new Error(`saveImageModel: dtype must be "float32" or "float16"; got ${dtype}`);
  const theta = model instanceof ImageCodec ? codecParameters(model) : model.theta;
  theta.forEach((v, i) => {
    if (!Number.isFinite(v)) {
      const where = model instanceof ImageCodec ? "" : ` (${whereIs(model.layers, i)})`;
      throw new Error(
        `saveImageModel: parameter ${i}${where} is ${v}; a saved model must be finite`,
      );
    }
  });
  const bytes = parameterBytes(theta, dtype);
  const config =
    model instanceof ImageCodec
      ? { pixels: model.pixels, k: model.k, scale: model.scale }
      : model.config;
  const saved: SavedImageModel = {
    format: IMAGE_MODEL_FORMAT,
    version: IMAGE_MODEL_VERSION,
    kind,
    config,
    numParameters: theta.length,
    dtype,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    theta: bytes.toString("base64"),
    recipe: options.recipe ?? {},
    info: options.info ?? {},
  };
  const tmp = `${file}.${process.pid}.tmp`;
  try {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(tmp, JSON.stringify(saved) + "\n");
    renameSync(tmp, file);
  } catch (err) {
    try {
      rmSync(tmp, { force: true });
    } catch {
      // no temporary file could have been made there either
    }
    throw new Error(
      `saveImageModel: could not write ${file} (${(err as Error).message}); nothing was changed`,
    );
  }
}

/**
 * Reads a file written by `saveImageModel`, checking everything (format, sizes, checksum, values).
 */
export function loadImageModel(file: string): LoadedImageModel {
  if (!existsSync(file)) throw new Error(`loadImageModel: no file ${file}`);
  let s: Partial<SavedImageModel>;
  try {
    s = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`loadImageModel: ${file} is not valid JSON (${(err as Error).message})`);
  }
  if (!s || typeof s !== "object" || s.format !== IMAGE_MODEL_FORMAT) {
    throw new Error(
      `loadImageModel: ${file} is not an image model of this course (format should be ` +
        `"${IMAGE_MODEL_FORMAT}")`,
    );
  }
  if (s.version !== IMAGE_MODEL_VERSION) {
    throw new Error(
      `loadImageModel: ${file} has version ${s.version}; this library reads version ` +
        `${IMAGE_MODEL_VERSION}`,
    );
  }
  if (s.dtype !== "float32" && s.dtype !== "float16")
    throw new Error(`loadImageModel: ${file} has an unknown dtype ${s.dtype}`);
  if (typeof s.theta !== "string" || typeof s.sha256 !== "string")
    throw new Error(`loadImageModel: ${file} has no parameters or no checksum`);
  // The sizes come from the configuration alone: building a model first would draw its initial
  // parameters from the seeded stream, and loading must not change what a notebook draws next.
  let sizes: number[];
  if (s.kind === "velocity") {
    const c = velocityModelConfig(s.config as VelocityModelConfig);
    s.config = c;
    sizes = modelSizes(c);
  } else if (s.kind === "classifier") {
    const c = s.config as ClassifierConfig;
    if (!c || !Array.isArray(c.hidden))
      throw new Error(`loadImageModel: ${file} has no classifier configuration`);
    sizes = [c.inputs, ...c.hidden, c.classes];
  } else if (s.kind === "codec") {
    const c = s.config as CodecConfig;
    if (!c || !Number.isInteger(c.pixels) || !Number.isInteger(c.k))
      throw new Error(`loadImageModel: ${file} has no codec configuration`);
    sizes = [];
  } else throw new Error(`loadImageModel: ${file} has an unknown kind ${JSON.stringify(s.kind)}`);
  const codecSize =
    s.kind === "codec"
      ? (s.config as CodecConfig).pixels * ((s.config as CodecConfig).k + 1) +
        (s.config as CodecConfig).k
      : 0;
  const n = s.kind === "codec" ? codecSize : layerLayout(sizes).count;
  if (s.numParameters !== n)
    throw new Error(
      `loadImageModel: ${file} says ${s.numParameters} parameters; its architecture has ${n}`,
    );
  const bytes = Buffer.from(s.theta, "base64");
  const width = s.dtype === "float16" ? 2 : 4;
  if (bytes.length !== n * width) {
    throw new Error(
      `loadImageModel: ${file} stores ${bytes.length} bytes of parameters; ${n} ${s.dtype} ` +
        `numbers need ${n * width}`,
    );
  }
  const digest = createHash("sha256").update(bytes).digest("hex");
  if (digest !== s.sha256)
    throw new Error(
      `loadImageModel: ${file} is damaged: the parameters' SHA-256 is ${digest}, the file says ` +
        `${s.sha256}`,
    );
  let theta: Float32Array;
  if (s.dtype === "float16") {
    const half = new Uint16Array(n);
    for (let i = 0; i < n; i++) half[i] = bytes.readUInt16LE(2 * i);
    theta = fromFloat16(half);
  } else {
    theta = new Float32Array(n);
    for (let i = 0; i < n; i++) theta[i] = bytes.readFloatLE(4 * i);
  }
  theta.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new Error(`loadImageModel: ${file}: parameter ${i} is ${v}`);
  });
  const saved: Saved = {
    recipe: (s.recipe ?? {}) as Record<string, unknown>,
    info: (s.info ?? {}) as Record<string, unknown>,
    dtype: s.dtype,
    sha256: s.sha256,
  };
  if (s.kind === "velocity")
    return {
      kind: "velocity",
      model: new VelocityModel(s.config as VelocityModelConfig, theta),
      ...saved,
    };
  if (s.kind === "classifier")
    return {
      kind: "classifier",
      model: new Classifier(s.config as ClassifierConfig, theta),
      ...saved,
    };
  const { pixels, k, scale } = s.config as CodecConfig;
  const codec = new ImageCodec({
    pixels,
    k,
    scale,
    mean: theta.slice(0, pixels),
    basis: theta.slice(pixels, pixels + k * pixels),
    variances: theta.slice(pixels + k * pixels),
  });
  return { kind: "codec", model: codec, ...saved };
}

/** `loadImageModel` of a file that must hold a `kind`; anything else is an error naming both. */
export function loadImageModelOf<K extends LoadedImageModel["kind"]>(
  file: string,
  kind: K,
): Extract<LoadedImageModel, { kind: K }> {
  const loaded = loadImageModel(file);
  if (loaded.kind !== kind)
    throw new Error(`loadImageModel: ${file} holds a ${loaded.kind}, not a ${kind}`);
  return loaded as Extract<LoadedImageModel, { kind: K }>;
}
