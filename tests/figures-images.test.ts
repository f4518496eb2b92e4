// Image figures (src/figures/png.ts, images.ts, guidance.ts) and the live image grid
// (src/notebook/live-images.ts): valid PNGs, fixed structure, byte-identical output, clear errors.
import { describe, expect, it, vi } from "vitest";
import * as tf from "@tensorflow/tfjs";
import { inflateSync } from "zlib";
import { crc32, greyPng, tileImages } from "../src/figures/png";
import { plotImageGrid, plotImagePanels } from "../src/figures/images";
import { plotGuidanceComparison, plotGuidanceTradeoff } from "../src/figures/guidance";
import { liveImages } from "../src/notebook/live-images";
import type { GuidanceComparison } from "../src/targets/guidance";

/** Reads an 8-bit greyscale PNG back: checks signature and every CRC, returns the pixels. */
function readPng(png: Buffer): { width: number; height: number; pixels: number[] } {
  expect(Array.from(png.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  let at = 8;
  let width = 0;
  let height = 0;
  const idat: Buffer[] = [];
  for (;;) {
    const length = png.readUInt32BE(at);
    const type = png.toString("ascii", at + 4, at + 8);
    const data = png.subarray(at + 8, at + 8 + length);
    expect(png.readUInt32BE(at + 8 + length)).toBe(crc32(png.subarray(at + 4, at + 8 + length)));
    if (type === "IHDR") {
      width = data.readUInt32BE(0);
      height = data.readUInt32BE(4);
      expect([data[8], data[9]]).toEqual([8, 0]);
    }
    if (type === "IDAT") idat.push(data);
    at += 12 + length;
    if (type === "IEND") break;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const pixels: number[] = [];
  for (let y = 0; y < height; y++) {
    expect(raw[y * (width + 1)]).toBe(0);
    for (let x = 0; x < width; x++) pixels.push(raw[y * (width + 1) + 1 + x]);
  }
  return { width, height, pixels };
}

describe("PNG and tiles", () => {
  it("crc32 matches the standard check value", () => {
    expect(crc32(Buffer.from("123456789"))).toBe(0xcbf43926);
  });

  it("writes a greyscale PNG that decodes to the given values (scaled, inverted, clipped)", () => {
    const png = greyPng([0, 0.5, 1, 2, -1, NaN], 3, 2);
    expect(readPng(png)).toEqual({ width: 3, height: 2, pixels: [0, 128, 255, 255, 0, 0] });
    const big = readPng(greyPng([0, 1], 2, 1, { scale: 2, invert: true }));
    expect(big).toEqual({ width: 4, height: 2, pixels: [255, 255, 0, 0, 255, 255, 0, 0] });
    expect(() => greyPng([0, 1, 0], 2, 2)).toThrow("a 2 x 2 image needs 4 values; got 3");
    expect(() => greyPng([0], 1, 1, { scale: 0 })).toThrow(
      "scale must be a positive integer; got 0",
    );
  });

  it("tiles images in rows with gaps of the background value", () => {
    const images = [1, 1, 1, 1, 0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0]; // three 2 x 2 images
    const t = tileImages(
      images,
      3,
      { height: 2, width: 2 },
      { columns: 2, gap: 1, background: 0.25 },
    );
    expect([t.width, t.height, t.columns, t.rows]).toEqual([5, 5, 2, 2]);
    expect(Array.from(t.values.subarray(0, 5))).toEqual([1, 1, 0.25, 0.5, 0.5]);
    expect(Array.from(t.values.subarray(15, 20))).toEqual([0, 0, 0.25, 0.25, 0.25]);
    expect(() => tileImages(images, 2, { height: 2, width: 2 })).toThrow(
      "2 images of 2 x 2 need 8 values; got 12",
    );
  });
});

describe("plotImageGrid and plotImagePanels", () => {
  const images = new Float32Array(6 * 784).map((_, i) => (i % 29) / 28);

  it(
    "draws one image trace from a PNG, with row " + "and column labels, the same bytes every time",
    () => {
      const fig = plotImageGrid(images, {
        columns: 3,
        rowLabels: ["w = 0", "w = 2"],
        columnLabels: ["0", "1", "2"],
        title: "grid",
      });
      expect(fig.data.length).toBe(1);
      expect(fig.data[0].type).toBe("image");
      expect(fig.data[0].uid).toBe("trace-0");
      expect(String(fig.data[0].source)).toMatch(/^data:image\/png;base64,/);
      const png = Buffer.from(String(fig.data[0].source).split(",")[1], "base64");
      const decoded = readPng(png);
      expect([decoded.width, decoded.height]).toEqual([3 * 28 + 2 * 2, 2 * 28 + 2]);
      expect((fig.layout.annotations as unknown[]).length).toBe(5);
      expect(JSON.stringify(plotImageGrid(images, { columns: 3 }))).toBe(
        JSON.stringify(plotImageGrid(images, { columns: 3 })),
      );
      const t = tf.tensor2d(images, [6, 784]);
      expect(JSON.stringify(plotImageGrid(t, { columns: 3 }))).toBe(
        JSON.stringify(plotImageGrid(images, { columns: 3 })),
      );
      t.dispose();
    },
  );

  it("says what is wrong with its input", () => {
    expect(() => plotImageGrid(new Float32Array(100))).toThrow(
      "100 values are not a whole number of 784-pixel images",
    );
    expect(() => plotImageGrid(images, { columns: 3, rowLabels: ["a"] })).toThrow(
      "rowLabels must have one label per row (2); got 1",
    );
    expect(() => plotImageGrid([0, NaN, ...new Array(782).fill(0)])).toThrow(
      "image 0 has a non-finite value NaN",
    );
    const t = tf.zeros([2, 10]) as tf.Tensor2D;
    expect(() => plotImageGrid(t)).toThrow("images must have shape [n, 784]; got [2, 10]");
    t.dispose();
  });

  it("draws signed panels on one diverging scale centred on 0, grey ones in [0, 1]", () => {
    const velocity = new Float32Array(784).map((_, i) => Math.sin(i) * 3);
    const fig = plotImagePanels([
      { title: "x_t", values: images.subarray(0, 784) },
      { title: "u", values: velocity, signed: true },
      { title: "-u", values: velocity.map((v) => -v), signed: true },
    ]);
    expect(fig.data.map((t) => t.type)).toEqual(["heatmap", "heatmap", "heatmap"]);
    expect(fig.data[1].zmid).toBe(0);
    expect(fig.data[1].zmax).toBe(fig.data[2].zmax);
    expect(fig.data[1].zmax).toBeCloseTo(3, 2);
    expect([fig.data[0].zmin, fig.data[0].zmax]).toEqual([0, 1]);
    expect(fig.data.map((t) => t.showscale)).toEqual([false, true, false]);
    expect(() => plotImagePanels([{ title: "two", values: new Float32Array(2 * 784) }])).toThrow(
      'panel "two" must hold one 28 x 28 image; got 2',
    );
    expect(() => plotImagePanels([])).toThrow("needs a non-empty list of panels");
  });
});

describe("guidance figures", () => {
  const r: GuidanceComparison = {
    c: 0,
    w: 2,
    x: [-1, 0, 1],
    y: [-1, 0, 1],
    guided: [
      [0, 0.1, 0],
      [0.2, 0.5, 0.1],
      [0, 0.1, 0],
    ],
    tilted: [
      [0, 0.2, 0],
      [0.1, 0.4, 0.1],
      [0, 0.2, 0],
    ],
    totalVariation: 0.25,
    guidedMass: 1,
    guidedMean: [-0.1, 0.05],
    tiltedMean: [0, 0],
  };

  it(
    "compares the two densities with one colour " + "scale, and slices them along the mean's row",
    () => {
      const fig = plotGuidanceComparison(r);
      expect(fig.data.map((t) => t.type)).toEqual(["heatmap", "heatmap", "scatter", "scatter"]);
      expect(fig.data[0].coloraxis).toBe(fig.data[1].coloraxis);
      expect(fig.data[2].y).toEqual([0.2, 0.5, 0.1]); // the row y = 0, nearest the guided mean 0.05
      expect(String((fig.layout.title as { text: string }).text)).toContain(
        "total variation 0.250",
      );
      expect(() => plotGuidanceComparison(r, { row: 5 })).toThrow(
        "row must be an integer in [0, 3); got 5",
      );
      expect(() => plotGuidanceComparison({} as never)).toThrow(
        /give the result of fm.compareGuidance/,
      );
    },
  );

  it("draws the trade-off with the floor", () => {
    const none = { predicted: new Int32Array(0), labels: new Uint8Array(0) };
    const rows = [
      { w: 0, accuracy: 0.7, fd: 60, nfe: 16, passes: 16, ...none },
      { w: 1, accuracy: 0.97, fd: 20, nfe: 16, passes: 32, ...none },
    ];
    const fig = plotGuidanceTradeoff(rows, { floor: 0.7 });
    expect(fig.data.length).toBe(3);
    expect(fig.data[2].y).toEqual([0.7, 0.7]);
    expect(() => plotGuidanceTradeoff([])).toThrow(/give the rows/);
  });
});

describe("liveImages", () => {
  it("outside a kernel prints the caption only (nothing to update)", async () => {
    const log = vi.spyOn(console, "log").mockImplementation(() => {});
    const live = liveImages();
    await live.show(new Float32Array(784), 1, "samples at step 10");
    expect(log).toHaveBeenCalledWith("samples at step 10");
    expect(live.updates).toBe(0);
    log.mockRestore();
  });
});
