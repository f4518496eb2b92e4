/**
 * The forward (noising) SDE behind an affine path (lecture 2's score SDE; lecture concept 8,
 * notebook 08).
 *
 * The score-SDE papers noise data along dx = f(s) x ds + g(s) dW in diffusion time s (s = 0 data,
 * s = 1 noise; s = 1 - t in this course). A drift linear in x keeps x(s) | x(0) Gaussian:
 * x(s) = alpha x(0) + sigma z with
 *
 *     d alpha / ds = f alpha,          d sigma^2 / ds = 2 f sigma^2 + g^2.
 *
 * Read backwards, every affine path x_t = alpha_t x1 + sigma_t x0 has one such SDE. In course time
 * (d/ds = -d/dt, D = dAlpha sigma - alpha dSigma as in `conversions.ts`):
 *
 *     f = -dAlpha / alpha,             g^2 = 2 sigma (sigma dAlpha / alpha - dSigma) = 2 sigma D /
 *       alpha.
 *
 * - VP-SDE (DDPM's limit, `vpSde`): f = -beta(s) / 2, g = sqrt(beta(s)), beta(s) = betaMin + s
 *   (betaMax - betaMin), alpha = exp(-integral_0^s beta / 2): the `vpScheduler` linear path.
 * - VE-SDE (NCSN, `veSde`): f = 0, g^2 = d sigma(s)^2 / ds with sigma(s) = sigmaMin (sigmaMax /
 *   sigmaMin)^s: the `veScheduler` path. (Strictly the SDE adds variance sigma(s)^2 - sigmaMin^2 to
 *   its starting point; the path's x1 + sigma_t x0 corresponds to starting it from the data blurred
 *   by sigmaMin, as Song et al. do.)
 * - The lecture's path alpha = t, sigma = 1 - t also has one: f = -1 / (1 - s), g^2 = 2 s / (1 - s)
 *   (`forwardSde(condOTPath())`), singular at s = 1 where alpha = 0.
 *
 * `reverseSdeDiffusion` in `solvers/sde.ts` uses g to run the reverse SDE of Song et al. as one
 * member of the family of stochastic samplers.
 */
import { AffineProbPath, vePath, vpPath } from "./affine";
import type { VESchedulerOptions } from "./scheduler";

/** The coefficients of dx = f x ds + g dW at one diffusion time s. */
export interface SdeCoefficients {
  /** The drift rate f(s) (the drift is f x). */
  f: number;
  /** The diffusion coefficient g(s) >= 0. */
  g: number;
  /** g(s)^2. */
  g2: number;
}

/** A linear forward SDE dx = f(s) x ds + g(s) dW with the affine path it noises along. */
export interface ForwardSde {
  /** `"vp"`, `"ve"`, or `"sde-of-<path name>"` for `forwardSde`. */
  readonly name: string;
  /** The affine path in course time (t = 1 - s) whose marginals the SDE produces. */
  readonly path: AffineProbPath;
  /**
   * f(s) and g(s) at a diffusion time s in [0, 1] (s = 0 data, s = 1 noise).
   * @example
   * vpSde().at(0);   // returns { f: -0.05, g: sqrt(0.1), g2: 0.1 }
   */
  at(s: number): SdeCoefficients;
}

function checkS(name: string, s: number): void {
  if (typeof s !== "number" || !Number.isFinite(s) || s < 0 || s > 1)
    throw new Error(`${name}: s must lie in [0, 1]; got ${s}`);
}

/**
 * The forward SDE of any affine path, from its alpha and sigma (formulas at the top of this file).
 * Singular where alpha = 0 (f infinite) and where sigma = 0 with an infinite slope (the VP paths at
 * s = 0: use `vpSde`, whose closed form is fine there); both are errors that say so.
 * @example
 * forwardSde(vpPath()).at(0.5);   // equals vpSde().at(0.5) (f = -beta / 2, g^2 = beta)
 */
export function forwardSde(path: AffineProbPath): ForwardSde {
  if (!(path instanceof AffineProbPath))
    throw new Error(
      `forwardSde: path must be an AffineProbPath (e.g. vpPath()); got ${String(path)}`,
    );
  const name = `sde-of-${path.name}`;
  return {
    name,
    path,
    at(s: number): SdeCoefficients {
      checkS(`${name}.at`, s);
      const t = 1 - s;
      const { alpha, sigma, dAlpha, dSigma } = path.scheduler.at(t);
      if (alpha === 0)
        throw new Error(
          `${name}.at: alpha = 0 at s = ${s} (t = ${t}): the drift -dAlpha / alpha is infinite ` +
            `there; use s < ${s}`,
        );
      if (!Number.isFinite(dSigma) || !Number.isFinite(dAlpha)) {
        throw new Error(
          `${name}.at: the path's slope is not finite at s = ${s} (dSigma = ${dSigma}); use s > ` +
            `0 (or vpSde for the VP path)`,
        );
      }
      const f = -dAlpha / alpha;
      const g2 = Math.max(0, 2 * sigma * ((sigma * dAlpha) / alpha - dSigma));
      return { f, g: Math.sqrt(g2), g2 };
    },
  };
}

/** Options of `vpSde`. */
export interface VPSdeOptions {
  /** beta at s = 0 (data end). @default 0.1 */
  betaMin?: number;
  /** beta at s = 1 (noise end). @default 20 */
  betaMax?: number;
}

/** The VP-SDE with its rate beta(s), the continuous limit of DDPM's linear schedule. */
export interface VPSde extends ForwardSde {
  /** beta(s) = betaMin + s (betaMax - betaMin). */
  beta(s: number): number;
}

/**
 * The variance-preserving SDE of Song et al., dx = -beta(s) x / 2 ds + sqrt(beta(s)) dW, the limit
 * of DDPM's chain x_k = sqrt(1 - beta_k) x_{k-1} + sqrt(beta_k) z with beta_k = beta(k / K) / K.
 * Its path is `vpPath({ schedule: "linear", betaMin, betaMax })`.
 * @example
 * const sde = vpSde();   // betaMin 0.1, betaMax 20 (DDPM's 1e-4..0.02 over K = 1000)
 * sde.at(1).g2;          // returns 20
 */
export function vpSde(options: VPSdeOptions = {}): VPSde {
  const path = vpPath({ schedule: "linear", ...options });
  const betaMin = path.scheduler.params.betaMin as number;
  const betaMax = path.scheduler.params.betaMax as number;
  const beta = (s: number): number => {
    checkS("vpSde.beta", s);
    return betaMin + s * (betaMax - betaMin);
  };
  return {
    name: "vp",
    path,
    beta,
    at(s: number): SdeCoefficients {
      const b = beta(s);
      return { f: -0.5 * b, g: Math.sqrt(b), g2: b };
    },
  };
}

/**
 * The variance-exploding SDE of Song et al. (NCSN in continuous time): dx = sqrt(d sigma(s)^2 / ds)
 * dW, sigma(s) = sigmaMin (sigmaMax / sigmaMin)^s, so g(s) = sigma(s) sqrt(2 ln(sigmaMax /
 * sigmaMin)) and f = 0. Its path is `vePath({ sigmaMin, sigmaMax })` (alpha = 1, sigma_t = sigma(1
 * - t)).
 * @example
 * veSde({ sigmaMin: 0.01, sigmaMax: 50 }).at(0).g;   // returns 0.01 * sqrt(2 ln 5000)
 */
export function veSde(options: VESchedulerOptions = {}): ForwardSde {
  const path = vePath(options);
  const sigmaMin = path.scheduler.params.sigmaMin as number;
  const sigmaMax = path.scheduler.params.sigmaMax as number;
  const logRatio = Math.log(sigmaMax / sigmaMin);
  return {
    name: "ve",
    path,
    at(s: number): SdeCoefficients {
      checkS("veSde.at", s);
      const sigma = sigmaMin * Math.exp(s * logRatio);
      const g2 = 2 * sigma * sigma * logRatio;
      return { f: 0, g: Math.sqrt(g2), g2 };
    },
  };
}
