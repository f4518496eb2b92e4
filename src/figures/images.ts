/**
 * Figures of images (notebook 09): grids of generated digits (per class, per guidance weight), one
 * image's path x_t from noise to digit as a strip, the velocity as an image, interpolations.
 *
 * A grid of grey images is ONE plotly `image` trace whose source is a PNG (src/figures/png.ts): a
 * few kilobytes however many images, zoomable, and exported like every other figure. Ink is dark on
 * white (grey value 1 is black). Row and column labels are annotations. Signed images (a velocity)
 * are heatmaps with a diverging colour scale centred on 0, so that sign and size can be read off.
 */
import * as tf from "@tensorflow/tfjs";
import { greyPng, tileImages } from "./png";
import {
  type BaseOptions,
  type Figure,
  type Trace,
  dropUndefined,
  finish,
  roundAll,
} from "./figure";

/** Images: a `[n, pixels]` tensor (read, not disposed) or n * pixels numbers, image after image. */
export type Images = tf.Tensor2D | ArrayLike<number>;

/** Options of `plotImageGrid`. */
export interface ImageGridOptions extends BaseOptions {
  /** Image size. @default 28 x 28 */
  imageHeight?: number;
  imageWidth?: number;
  /** Images per row. @default 10 (or n when fewer) */
  columns?: number;
  /** A label at the left of each row of images. */
  rowLabels?: string[];
  /** A label above each column of images. */
  columnLabels?: string[];
  /** Screen pixels per image pixel. @default 2 */
  scale?: number;
  /** Pixels between images. @default 2 */
  gap?: number;
}

function readImages(
  images: Images,
  size: number,
  fn: string,
): { values: ArrayLike<number>; n: number } {
  let values: ArrayLike<number>;
  if (images instanceof tf.Tensor) {
    if (images.rank !== 2 || images.shape[1] !== size) {
      throw new Error(
        `${fn}: images must have shape [n, ${size}]; got [${images.shape.join(", ")}]`,
      );
    }
    values = images.dataSync();
  } else if (images && typeof (images as ArrayLike<number>).length === "number") {
    values = images;
  } else {
    throw new Error(`${fn}: images must be a [n, ${size}] tensor or an array of grey values`);
  }
  if (values.length === 0 || values.length % size !== 0) {
    throw new Error(
      `${fn}: ${values.length} values are not a whole number of ${size}-pixel images`,
    );
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i]))
      throw new Error(`${fn}: image ${Math.floor(i / size)} has a non-finite value ${values[i]}`);
  }
  return { values, n: values.length / size };
}

function label(
  text: string,
  x: number,
  y: number,
  anchor: { x: string; y: string },
  size = 12,
): Record<string, unknown> {
  return {
    text,
    x,
    y,
    xref: "paper",
    yref: "paper",
    xanchor: anchor.x,
    yanchor: anchor.y,
    showarrow: false,
    font: { size },
  };
}

/**
 * A grid of grey images (values in [0, 1]; 1 is ink), with optional row and column labels.
 * @example
 * fm.show(fm.plotImageGrid(samples, { columns: 10, rowLabels: ["w = 0", "w = 2"] }));
 */
export function plotImageGrid(images: Images, options: ImageGridOptions = {}): Figure {
  const h = options.imageHeight ?? 28;
  const w = options.imageWidth ?? 28;
  const { values, n } = readImages(images, h * w, "plotImageGrid");
  const gap = options.gap ?? 2;
  const grid = tileImages(
    values,
    n,
    { height: h, width: w },
    { columns: options.columns ?? Math.min(n, 10), gap },
  );
  const scale = options.scale ?? 2;
  if (!Number.isInteger(scale) || scale < 1)
    throw new Error(`plotImageGrid: scale must be a positive integer; got ${scale}`);
  for (const [name, labels, count] of [
    ["rowLabels", options.rowLabels, grid.rows],
    ["columnLabels", options.columnLabels, grid.columns],
  ] as const) {
    if (labels !== undefined && labels.length !== count) {
      throw new Error(
        `plotImageGrid: ${name} must have one label per ` +
          `${name === "rowLabels" ? "row" : "column"} (${count}); got ${labels.length}`,
      );
    }
  }
  const png = greyPng(grid.values, grid.width, grid.height, { invert: true });
  const left = options.rowLabels ? 70 : 10;
  const top = (options.title ? 40 : 10) + (options.columnLabels ? 22 : 0);
  const plotW = grid.width * scale;
  const plotH = grid.height * scale;
  const trace: Trace = {
    type: "image",
    source: `data:image/png;base64,${png.toString("base64")}`,
    hoverinfo: "skip",
  };
  const annotations: Record<string, unknown>[] = [];
  options.rowLabels?.forEach((text, r) => {
    const y = 1 - (r * (h + gap) + h / 2) / grid.height;
    annotations.push(label(text, -0.01, y, { x: "right", y: "middle" }));
  });
  options.columnLabels?.forEach((text, c) => {
    const x = (c * (w + gap) + w / 2) / grid.width;
    annotations.push(label(text, x, 1.005, { x: "center", y: "bottom" }, 11));
  });
  const hidden = { visible: false, showgrid: false, zeroline: false };
  const layout = dropUndefined({
    width: options.width ?? plotW + left + 10,
    height: options.height ?? plotH + top + 10,
    margin: { l: left, r: 10, t: top, b: 10 },
    paper_bgcolor: "white",
    plot_bgcolor: "white",
    font: { family: "Helvetica, Arial, sans-serif", size: 13, color: "#222" },
    title: options.title ? { text: options.title, x: 0.5, xanchor: "center" } : undefined,
    xaxis: { ...hidden, range: [-0.5, grid.width - 0.5] },
    yaxis: { ...hidden, range: [grid.height - 0.5, -0.5], scaleanchor: "x", scaleratio: 1 },
    annotations,
  });
  return finish({ data: [trace], layout });
}

/** One panel of `plotImagePanels`: grey values in [0, 1], or signed values (a velocity). */
export interface ImagePanel {
  title: string;
  /** height * width numbers, row-major. */
  values: ArrayLike<number> | tf.Tensor;
  /** Signed values on a diverging scale centred on 0 (else grey ink in [0, 1]). @default false */
  signed?: boolean;
}

/**
 * Images side by side as heatmaps with hover values: grey ones in [0, 1] and signed ones (the
 * velocity u_t(x), or x1 - x0) on a blue-white-red scale centred on 0, whose range is the largest
 * |value| of the signed panels (one shared scale, so that panels compare).
 * @example
 * fm.show(fm.plotImagePanels([{ title: "x_t", values: xt }, { title: "u_t(x_t)", values: u,
 * signed: true }]));
 */
export function plotImagePanels(
  panels: ImagePanel[],
  options: BaseOptions & { imageHeight?: number; imageWidth?: number; panelSize?: number } = {},
): Figure {
  const h = options.imageHeight ?? 28;
  const w = options.imageWidth ?? 28;
  if (!Array.isArray(panels) || panels.length === 0)
    throw new Error("plotImagePanels: needs a non-empty list of panels");
  const read = panels.map((p, k) => {
    if (!p || typeof p.title !== "string")
      throw new Error(`plotImagePanels: panel ${k} needs a title`);
    const values = p.values instanceof tf.Tensor ? p.values.dataSync() : p.values;
    const { n } = readImages(values, h * w, `plotImagePanels (panel "${p.title}")`);
    if (n !== 1)
      throw new Error(
        `plotImagePanels: panel "${p.title}" must hold one ${h} x ${w} image; got ${n}`,
      );
    return values;
  });
  let bound = 0;
  panels.forEach((p, k) => {
    if (p.signed)
      for (let i = 0; i < read[k].length; i++) bound = Math.max(bound, Math.abs(read[k][i]));
  });
  bound = Number((bound || 1).toPrecision(3));
  const size = options.panelSize ?? 150;
  const gapFraction = 0.04;
  const cols = panels.length;
  const span = (1 - gapFraction * (cols - 1)) / cols;
  const layout: Record<string, unknown> = {
    width: options.width ?? cols * (size + 20) + 120,
    height: options.height ?? size + (options.title ? 110 : 80),
    margin: { l: 20, r: 100, t: options.title ? 70 : 40, b: 20 },
    paper_bgcolor: "white",
    plot_bgcolor: "white",
    font: { family: "Helvetica, Arial, sans-serif", size: 13, color: "#222" },
    title: options.title ? { text: options.title, x: 0.5, xanchor: "center" } : undefined,
    annotations: [],
  };
  let signedShown = false;
  const data: Trace[] = panels.map((p, k) => {
    const z: (number | null)[][] = [];
    for (let r = 0; r < h; r++)
      z.push(roundAll(Array.from({ length: w }, (_, c) => read[k][r * w + c])));
    const axis = k === 0 ? "" : String(k + 1);
    const x0 = k * (span + gapFraction);
    layout[`xaxis${axis}`] = { domain: [x0, x0 + span], visible: false, range: [-0.5, w - 0.5] };
    layout[`yaxis${axis}`] = {
      visible: false,
      range: [h - 0.5, -0.5],
      scaleanchor: `x${axis}`,
      scaleratio: 1,
    };
    (layout.annotations as unknown[]).push(
      label(p.title, x0 + span / 2, 1.02, { x: "center", y: "bottom" }),
    );
    const showscale = !!p.signed && !signedShown;
    if (p.signed) signedShown = true;
    return {
      type: "heatmap",
      name: p.title,
      z,
      xaxis: `x${axis}`,
      yaxis: `y${axis}`,
      ...(p.signed
        ? { colorscale: "RdBu", reversescale: true, zmin: -bound, zmid: 0, zmax: bound }
        : {
            colorscale: [
              [0, "#ffffff"],
              [1, "#000000"],
            ],
            zmin: 0,
            zmax: 1,
          }),
      showscale,
      colorbar: showscale ? { thickness: 12, len: 0.9, title: { text: "value" } } : undefined,
      hovertemplate: `${p.title}<br>row %{y}, column %{x}: %{z:.3f}<extra></extra>`,
    };
  });
  return finish({ data, layout: dropUndefined(layout) });
}
