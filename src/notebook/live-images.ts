/**
 * A grid of images shown in ONE notebook output and replaced in place (the live preview of a
 * training run, notebook 09). Like `progress`, every message sent is followed by a yield to the
 * event loop (tslab's message socket only flushes when the loop runs; without yielding, output is
 * lost after a few hundred messages), and the caller throttles how often it sends.
 *
 * The grid is a PNG data URI in an `<img>` (no script): it renders in every front end and in the
 * HTML pages. Outside a kernel nothing is shown; the caption is printed unless `quiet`.
 */
import { greyPng, tileImages } from "../figures/png";
import { kernelDisplayWriter, METADATA_KEY, newDisplayId } from "./display";

/** A live image grid. */
export interface LiveImages {
  /** Replaces the grid by these images (n images of height x width values in [0, 1]). */
  show(images: ArrayLike<number>, n: number, caption: string): Promise<void>;
  /** Messages sent so far. */
  readonly updates: number;
}

/** Options of `liveImages`. */
export interface LiveImagesOptions {
  /** Image size. @default 28 x 28 */
  height?: number;
  width?: number;
  /** Images per row. @default 10 */
  columns?: number;
  /** Screen pixels per image pixel. @default 2 */
  scale?: number;
  /** Outside a kernel, print nothing. @default false */
  quiet?: boolean;
}

/** Starts a live image grid (see the module comment). */
export function liveImages(options: LiveImagesOptions = {}): LiveImages {
  const height = options.height ?? 28;
  const width = options.width ?? 28;
  const displayId = newDisplayId();
  let updates = 0;
  return {
    async show(images, n, caption) {
      const write = kernelDisplayWriter();
      if (!write) {
        if (!options.quiet) console.log(caption);
        return;
      }
      const grid = tileImages(images, n, { height, width }, { columns: options.columns ?? 10 });
      const png = greyPng(grid.values, grid.width, grid.height, {
        scale: options.scale ?? 2,
        invert: true,
      });
      const html =
        `<div class="fm-live-images" ` +
        `style="font-family:Helvetica,Arial,sans-serif;font-size:13px">` +
        `<div>${caption.replace(/&/g, "&amp;").replace(/</g, "&lt;")}</div>` +
        `<img alt="samples" src="data:image/png;base64,${png.toString("base64")}"/></div>`;
      write(
        {
          data: { "text/html": html, "text/plain": caption },
          metadata: { [METADATA_KEY]: { liveImages: { updates: updates + 1 } } },
          transient: { display_id: displayId },
        },
        updates > 0,
      );
      updates++;
      await new Promise<void>((resolve) => setImmediate(resolve));
    },
    get updates() {
      return updates;
    },
  };
}
