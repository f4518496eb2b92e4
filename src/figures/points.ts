/**
 * Point clouds: samples x0 ~ p_0, x1 ~ p_data, or the particles x_t of a probability path
 * (lecture, concept 1: the probability path p_t seen through its samples).
 */
import {
  BaseOptions,
  COORD_TITLES,
  Figure,
  Points,
  Trace,
  baseLayout,
  color,
  finish,
  placeLegend,
  roundAll,
  toXY,
} from "./figure";

/** One named cloud, for figures with several. */
export interface PointSeries {
  /** Legend name, e.g. `"x0 ~ p_0"`. */
  name: string;
  /** The points, `[n, 2]`. */
  points: Points;
  /** Marker colour. @default the palette colour of the series' index */
  color?: string;
  /** Marker size in pixels. @default the figure's `size` */
  size?: number;
}

/** Options of `plotPoints`. */
export interface PointsOptions extends BaseOptions {
  /** Marker size in pixels. @default 5 */
  size?: number;
  /** Marker opacity. @default 0.7 */
  opacity?: number;
  /** One unit on x as long as one on y. @default true */
  equal?: boolean;
}

function isSeriesList(value: unknown): value is PointSeries[] {
  return (
    Array.isArray(value) &&
    value.length > 0 &&
    value[0] !== null &&
    typeof value[0] === "object" &&
    !Array.isArray(value[0]) &&
    "points" in (value[0] as object)
  );
}

/** The scatter trace of one cloud (shared with the other builders). */
export function pointsTrace(
  points: Points,
  name: string,
  options: { color: string; size: number; opacity: number },
): Trace {
  const { x, y } = toXY(points, name);
  return {
    type: "scatter",
    mode: "markers",
    name,
    x: roundAll(x),
    y: roundAll(y),
    marker: {
      color: options.color,
      size: options.size,
      opacity: options.opacity,
      line: { width: 0 },
    },
    hovertemplate: `${name}<br>(%{x:.3f}, %{y:.3f})<extra></extra>`,
  };
}

/**
 * A scatter plot of one or several 2-D point clouds, axes equal.
 * @example
 * plotPoints(fm.randn([500, 2]), { title: "x0 ~ N(0, I)" });
 * plotPoints([{ name: "x0", points: x0 }, { name: "x1", points: x1 }]);
 */
export function plotPoints(points: Points | PointSeries[], options: PointsOptions = {}): Figure {
  const series: PointSeries[] = isSeriesList(points)
    ? points
    : [{ name: "points", points: points as Points }];
  const size = options.size ?? 5;
  const opacity = options.opacity ?? 0.7;
  const data = series.map((s, i) =>
    pointsTrace(s.points, s.name, { color: s.color ?? color(i), size: s.size ?? size, opacity }),
  );
  const layout = baseLayout(
    { ...options, equal: options.equal ?? true },
    { width: 520, height: 480, xTitle: COORD_TITLES[0], yTitle: COORD_TITLES[1] },
  );
  placeLegend(layout, series.length > 1, options.equal ?? true);
  return finish({ data, layout });
}
