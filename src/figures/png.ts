/**
 * Grey images as PNG files, for the live preview of training (notebook 09): an `<img>` with a PNG
 * data URI renders in every front end and in the HTML pages, without scripts, in a few kilobytes.
 *
 * A PNG here is the signature, an IHDR chunk (8-bit greyscale), one IDAT chunk (the rows, each
 * behind a filter byte 0, deflated with Node's zlib) and IEND; every chunk carries its CRC-32.
 */
import { deflateSync } from "zlib";

let crcTable: Uint32Array | null = null;

/** CRC-32 (the polynomial of PNG and zlib) of `bytes`. */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, "ascii");
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

/**
 * An 8-bit greyscale PNG of `values` (row-major, `width * height` numbers in [0, 1]; 0 is black
 * unless `invert`), each pixel drawn as a `scale` x `scale` block.
 */
export function greyPng(
  values: ArrayLike<number>,
  width: number,
  height: number,
  options: { scale?: number; invert?: boolean } = {},
): Buffer {
  const scale = options.scale ?? 1;
  for (const [name, v] of [
    ["width", width],
    ["height", height],
    ["scale", scale],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new Error(`greyPng: ${name} must be a positive integer; got ${v}`);
  }
  if (values.length !== width * height) {
    throw new Error(
      `greyPng: a ${width} x ${height} image needs ${width * height} values; got ${values.length}`,
    );
  }
  const W = width * scale;
  const H = height * scale;
  const raw = new Uint8Array(H * (W + 1));
  for (let y = 0; y < H; y++) {
    const row = y * (W + 1); // raw[row] = 0: filter "none"
    for (let x = 0; x < W; x++) {
      const v = values[Math.floor(y / scale) * width + Math.floor(x / scale)];
      const g = Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : 0;
      raw[row + 1 + x] = Math.round(255 * (options.invert ? 1 - g : g));
    }
  }
  const header = Buffer.alloc(13);
  header.writeUInt32BE(W, 0);
  header.writeUInt32BE(H, 4);
  header[8] = 8; // bit depth
  header[9] = 0; // greyscale
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  return Buffer.concat([
    signature,
    chunk("IHDR", header),
    chunk("IDAT", deflateSync(raw)),
    chunk("IEND", new Uint8Array(0)),
  ]);
}

/**
 * Tiles n images (each `height * width` values in [0, 1], image after image) into one picture of
 * `columns` images per row, with a gap of `gap` pixels (value `background`, default 0.25: light
 * grey ink) between them.
 * @returns the tiled values and their size
 */
export function tileImages(
  images: ArrayLike<number>,
  n: number,
  size: { height: number; width: number },
  options: { columns?: number; gap?: number; background?: number } = {},
): { values: Float32Array; width: number; height: number; columns: number; rows: number } {
  const { height: h, width: w } = size;
  if (!Number.isInteger(n) || n < 1)
    throw new Error(`tileImages: n must be a positive integer; got ${n}`);
  if (images.length !== n * h * w) {
    throw new Error(
      `tileImages: ${n} images of ${h} x ${w} need ${n * h * w} values; got ${images.length}`,
    );
  }
  const columns = Math.min(n, options.columns ?? n);
  if (!Number.isInteger(columns) || columns < 1)
    throw new Error(`tileImages: columns must be a positive integer; got ${columns}`);
  const gap = options.gap ?? 2;
  const rows = Math.ceil(n / columns);
  const W = columns * w + (columns - 1) * gap;
  const H = rows * h + (rows - 1) * gap;
  const values = new Float32Array(W * H).fill(options.background ?? 0.25);
  for (let k = 0; k < n; k++) {
    const r0 = Math.floor(k / columns) * (h + gap);
    const c0 = (k % columns) * (w + gap);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) values[(r0 + y) * W + c0 + x] = images[k * h * w + y * w + x];
  }
  return { values, width: W, height: H, columns, rows };
}
