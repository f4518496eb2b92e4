/**
 * The continuity equation checked symbolically, in one dimension (lecture concept 2; notebook 2
 * introduces it, notebook 3 applies it to the conditional path).
 *
 *     d/dt p_t(x) + d/dx( p_t(x) u_t(x) ) = 0
 *
 * Dividing by p_t > 0 turns the derivatives of p into derivatives of log p, which for the Gaussian
 * paths of the course are rational functions (the exponential disappears):
 *
 *     residual / p  =  d_t log p  +  d_x u  +  u d_x log p .
 *
 * `symbolicContinuityResidual1D` differentiates the given log p_t and u_t with mathjs, adds the
 * three terms, brings the sum over one common denominator D, expands the numerator N as a
 * polynomial and simplifies it. The field generates the path exactly when N simplifies to "0" (D
 * never vanishes where the path is defined). A wrong field leaves a non-zero polynomial: that is
 * the negative control.
 *
 * Why not `math.rationalize` and `math.simplify`? Measured here (mathjs 15.2) on the lecture's
 * path: rationalize on the whole sum ran for minutes; on a numerator over the common denominator it
 * took 4 s and still returned "4 (... + x1 x + ...) - 4 (... + x x1 + ...)" that simplify did not
 * cancel, and 200 s for another field. So mathjs does the calculus (derivative, parse, LaTeX), and
 * a small exact algebra below does the rest: denominators kept as products of factors (so (1 - t)^3
 * and (1 - t) share the factor 1 - t, and their common multiple is (1 - t)^3), numerators expanded
 * into polynomials with integer coefficients, which are zero exactly when every coefficient
 * cancels.
 *
 * mathjs is loaded the first time the function runs (it takes about half a second), so notebooks
 * that do not use it do not pay for it.
 */
import type * as MathJs from "mathjs";

/**
 * Inputs of `symbolicContinuityResidual1D`: expressions in mathjs syntax (`^` for powers, `log`
 * natural).
 */
export interface SymbolicContinuityInput {
  /**
   * log p_t(x) as an expression in the space variable, the time variable and any constant symbols
   * (e.g. `"-(x - t*x1)^2 / (2*(1-t)^2) - log(1-t) - log(2*pi)/2"`, the lecture's path N(t x1,
   * (1-t)^2)).
   */
  logDensity: string;
  /** u_t(x), e.g. `"(x1 - x)/(1 - t)"`. */
  velocity: string;
  /** Name of the space variable. @default "x" */
  x?: string;
  /** Name of the time variable. @default "t" */
  t?: string;
}

/**
 * One step of the derivation, as plain text and as LaTeX (for `showMarkdown("$$" + tex + "$$")`).
 */
export type SymbolicStep = {
  /** What this step is, e.g. "d/dt log p". */
  label: string;
  /** The expression in mathjs syntax. */
  expression: string;
  /** The same expression in LaTeX. */
  tex: string;
};

/**
 * What `symbolicContinuityResidual1D` returns: the derivative steps and the simplified residual.
 */
export type SymbolicContinuityResult = {
  /** d/dt log p_t(x). */
  dLogPdt: string;
  /** d/dx log p_t(x). */
  dLogPdx: string;
  /** d/dx u_t(x). */
  dUdx: string;
  /** residual / p = d_t log p + d_x u + u d_x log p, before any simplification. */
  residualOverP: string;
  /** The common denominator D (a product of factors, not expanded). */
  denominator: string;
  /** The numerator N = D * residual / p, expanded and simplified: "0" when u generates p. */
  numerator: string;
  /** residual / p simplified: "0", or "(N) / (D)". */
  simplified: string;
  /** True when the numerator simplifies to exactly 0: u_t generates p_t. */
  isZero: boolean;
  /** The derivation in order (the three derivatives, the sum, D, N, the result), for display. */
  steps: SymbolicStep[];
};

type MathJsStatic = typeof MathJs;
let mathjs: MathJsStatic | null = null;

/** mathjs, loaded on first use. */
function mathLib(): MathJsStatic {
  if (mathjs === null) {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    mathjs = require("mathjs") as MathJsStatic;
  }
  return mathjs;
}

/**
 * The parts of a mathjs node this module reads (the library's node types are too narrow to walk
 * generically).
 */
interface AnyNode {
  type: string;
  op?: string;
  fn?: unknown;
  name?: string;
  value?: unknown;
  args?: AnyNode[];
  content?: AnyNode;
  toString(options?: object): string;
}

// ---------------------------------------------------------------------------------------------
// Exact polynomials with integer coefficients. A monomial is a sorted list of (symbol, power); its
// key reads "t^2*x1" ("" for the constant). Coefficients stay integers (every rational constant is
// split into an integer over an integer denominator factor), so the arithmetic is exact as long as
// they stay below 2^53, which is checked.

/** A polynomial: monomial key -> integer coefficient (no zero coefficients stored). */
type Poly = Map<string, number>;

function monomialPowers(key: string): [string, number][] {
  if (key === "") return [];
  return key.split("*").map((part) => {
    const [name, power] = part.split("^");
    return [name, power === undefined ? 1 : Number(power)] as [string, number];
  });
}

function monomialKey(powers: [string, number][]): string {
  return powers
    .filter(([, p]) => p !== 0)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([name, p]) => (p === 1 ? name : `${name}^${p}`))
    .join("*");
}

function exact(c: number): number {
  if (!Number.isSafeInteger(c))
    throw new Error(
      `symbolicContinuityResidual1D: a coefficient grew beyond 2^53 (${c}); the expressions are ` +
        `too large for exact arithmetic`,
    );
  return c;
}

function polyConstant(c: number): Poly {
  return c === 0 ? new Map() : new Map([["", exact(c)]]);
}

function polySymbol(name: string): Poly {
  return new Map([[name, 1]]);
}

function polyAdd(a: Poly, b: Poly, sign = 1): Poly {
  const out = new Map(a);
  b.forEach((c, k) => {
    const v = exact((out.get(k) ?? 0) + sign * c);
    if (v === 0) out.delete(k);
    else out.set(k, v);
  });
  return out;
}

function polyMul(a: Poly, b: Poly): Poly {
  let out: Poly = new Map();
  a.forEach((ca, ka) => {
    b.forEach((cb, kb) => {
      const powers = new Map<string, number>();
      for (const [name, p] of [...monomialPowers(ka), ...monomialPowers(kb)])
        powers.set(name, (powers.get(name) ?? 0) + p);
      out = polyAdd(out, new Map([[monomialKey(Array.from(powers.entries())), exact(ca * cb)]]));
    });
  });
  return out;
}

function polyPow(a: Poly, k: number): Poly {
  let out = polyConstant(1);
  for (let i = 0; i < k; i++) out = polyMul(out, a);
  return out;
}

function degree(key: string): number {
  return monomialPowers(key).reduce((s, [, p]) => s + p, 0);
}

/**
 * Monomial keys in display order: the constant first, then by total degree, then alphabetically.
 */
function orderedKeys(p: Poly): string[] {
  return Array.from(p.keys()).sort((a, b) => degree(a) - degree(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * The polynomial as an expression string, lowest total degree first: "1 - 2 * t + t ^ 2 - x * x1".
 */
function polyString(p: Poly): string {
  if (p.size === 0) return "0";
  const keys = orderedKeys(p);
  return keys
    .map((k, i) => {
      const c = p.get(k) as number;
      const mono =
        k === ""
          ? ""
          : k
              .split("*")
              .map((f) => f.replace("^", " ^ "))
              .join(" * ");
      const size = Math.abs(c);
      const body = mono === "" ? String(size) : size === 1 ? mono : `${size} * ${mono}`;
      return i === 0 ? (c < 0 ? `-${body}` : body) : c < 0 ? ` - ${body}` : ` + ${body}`;
    })
    .join("");
}

function gcd(a: number, b: number): number {
  a = Math.abs(a);
  b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a;
}

// ---------------------------------------------------------------------------------------------
// Rational expressions as coefficient * product of factor polynomials, over the same. Keeping the
// denominator factored is what makes the common denominator small: (1 - t)^3 and (1 - t) share the
// factor 1 - t, so their least common multiple is (1 - t)^3, not (1 - t)^4.

/** coef * prod_k factor_k^power_k, each factor a polynomial keyed by its canonical string. */
type Product = { coef: number; factors: Map<string, { poly: Poly; power: number }> };
/** num / den. */
type Rational = { num: Product; den: Product };

const unit = (): Product => ({ coef: 1, factors: new Map() });

function productTimes(a: Product, b: Product): Product {
  const factors = new Map(a.factors);
  b.factors.forEach((f, k) => {
    const power = (factors.get(k)?.power ?? 0) + f.power;
    if (power === 0) factors.delete(k);
    else factors.set(k, { poly: f.poly, power });
  });
  return { coef: exact(a.coef * b.coef), factors };
}

/** A factor polynomial as a product (constants go into the coefficient). */
function productOf(poly: Poly): Product {
  if (poly.size === 0) return { coef: 0, factors: new Map() };
  if (poly.size === 1 && poly.has("")) return { coef: poly.get("") as number, factors: new Map() };
  // pull out the integer content and make the first coefficient (the constant, if any) positive, so
  // equal factors get equal keys and 1 - t is written so rather than as -(t - 1)
  const coefs = Array.from(poly.values());
  let content = coefs.reduce((g, c) => gcd(g, c), 0);
  const lead = poly.get(orderedKeys(poly)[0]) as number;
  if (lead < 0) content = -content;
  const reduced: Poly = new Map(
    Array.from(poly.entries()).map(([k, c]) => [k, c / content] as [string, number]),
  );
  return { coef: content, factors: new Map([[polyString(reduced), { poly: reduced, power: 1 }]]) };
}

function expand(p: Product): Poly {
  let out = polyConstant(p.coef);
  p.factors.forEach((f) => (out = polyMul(out, polyPow(f.poly, f.power))));
  return out;
}

/**
 * Cancels factors and integer content common to numerator and denominator; the denominator's
 * coefficient ends positive.
 */
function reduce(r: Rational): Rational {
  if (r.den.coef === 0) throw new Error("symbolicContinuityResidual1D: division by zero");
  const num = { coef: r.num.coef, factors: new Map(r.num.factors) };
  const den = { coef: r.den.coef, factors: new Map(r.den.factors) };
  num.factors.forEach((f, k) => {
    const g = den.factors.get(k);
    if (g === undefined) return;
    const m = Math.min(f.power, g.power);
    if (f.power === m) num.factors.delete(k);
    else num.factors.set(k, { poly: f.poly, power: f.power - m });
    if (g.power === m) den.factors.delete(k);
    else den.factors.set(k, { poly: g.poly, power: g.power - m });
  });
  if (num.coef === 0) return { num: { coef: 0, factors: new Map() }, den: unit() };
  const g = gcd(num.coef, den.coef) * Math.sign(den.coef);
  return {
    num: { coef: num.coef / g, factors: num.factors },
    den: { coef: den.coef / g, factors: den.factors },
  };
}

/**
 * The least common multiple of two denominators: per factor the larger power, and the integers'
 * lcm.
 */
function lcm(a: Product, b: Product): Product {
  const factors = new Map(a.factors);
  b.factors.forEach((f, k) => {
    if ((factors.get(k)?.power ?? 0) < f.power) factors.set(k, f);
  });
  return { coef: exact(Math.abs((a.coef / gcd(a.coef, b.coef)) * b.coef)), factors };
}

/** a / b for products where b divides a (as built by `lcm`). */
function quotient(a: Product, b: Product): Product {
  const factors = new Map(a.factors);
  b.factors.forEach((f, k) => {
    const power = (factors.get(k)?.power ?? 0) - f.power;
    if (power === 0) factors.delete(k);
    else factors.set(k, { poly: f.poly, power });
  });
  return { coef: a.coef / b.coef, factors };
}

/** A decimal constant as an exact fraction p / q (q a power of ten, reduced). */
function decimalFraction(v: number): [number, number] {
  for (let k = 0, q = 1; k <= 12; k++, q *= 10) {
    const p = Math.round(v * q);
    if (Math.abs(v * q - p) < 1e-9 * Math.max(1, Math.abs(p))) {
      const g = gcd(p, q);
      return [p / g, q / g];
    }
  }
  throw new Error(
    `symbolicContinuityResidual1D: cannot write the constant ${v} as an exact fraction`,
  );
}

/**
 * Rewrites an expression as a reduced rational function. Function calls, non-integer powers and the
 * constants pi and e are kept whole as independent symbols, named through `opaque`.
 */
function toRational(node: AnyNode, opaque: (n: AnyNode) => string): Rational {
  const symbol = (name: string): Rational => ({ num: productOf(polySymbol(name)), den: unit() });
  switch (node.type) {
    case "ParenthesisNode":
      return toRational(node.content as AnyNode, opaque);
    case "ConstantNode": {
      const v = node.value;
      if (typeof v !== "number" || !Number.isFinite(v))
        throw new Error(`symbolicContinuityResidual1D: unsupported constant ${String(v)}`);
      const [p, q] = decimalFraction(v);
      return { num: productOf(polyConstant(p)), den: productOf(polyConstant(q)) };
    }
    case "SymbolNode":
    case "FunctionNode":
      return symbol(opaque(node));
    case "OperatorNode": {
      const args = node.args ?? [];
      switch (node.fn) {
        case "unaryPlus":
          return toRational(args[0], opaque);
        case "unaryMinus": {
          const a = toRational(args[0], opaque);
          return { num: { coef: -a.num.coef, factors: a.num.factors }, den: a.den };
        }
        case "multiply": {
          const parts = args.map((a) => toRational(a, opaque));
          return reduce({
            num: parts.reduce((acc, f) => productTimes(acc, f.num), unit()),
            den: parts.reduce((acc, f) => productTimes(acc, f.den), unit()),
          });
        }
        case "divide": {
          const a = toRational(args[0], opaque);
          const b = toRational(args[1], opaque);
          return reduce({ num: productTimes(a.num, b.den), den: productTimes(a.den, b.num) });
        }
        case "add":
        case "subtract": {
          const parts = args.map((a) => toRational(a, opaque));
          const den = parts.reduce((acc, f) => lcm(acc, f.den), unit());
          let sum: Poly = new Map();
          parts.forEach((f, i) => {
            const term = expand(productTimes(f.num, quotient(den, f.den)));
            sum = polyAdd(sum, term, i > 0 && node.fn === "subtract" ? -1 : 1);
          });
          return reduce({ num: productOf(sum), den });
        }
        case "pow": {
          const e = args[1];
          const k =
            e.type === "ConstantNode"
              ? e.value
              : e.type === "OperatorNode" &&
                  e.fn === "unaryMinus" &&
                  e.args?.[0].type === "ConstantNode"
                ? -(e.args[0].value as number)
                : NaN;
          if (typeof k === "number" && Number.isInteger(k)) {
            const base = toRational(args[0], opaque);
            const power = (p: Product, n: number): Product => ({
              coef: exact(p.coef ** n),
              factors: new Map(
                Array.from(p.factors.entries()).map(([key, f]) => [
                  key,
                  { poly: f.poly, power: f.power * n },
                ]),
              ),
            });
            return k >= 0
              ? { num: power(base.num, k), den: power(base.den, k) }
              : reduce({ num: power(base.den, -k), den: power(base.num, -k) });
          }
          return symbol(opaque(node));
        }
        default:
          throw new Error(
            `symbolicContinuityResidual1D: unsupported operator "${String(node.op)}" in ` +
              `${node.toString()}`,
          );
      }
    }
    default:
      throw new Error(
        `symbolicContinuityResidual1D: unsupported expression ${node.toString()} (${node.type})`,
      );
  }
}

/** A product as an expression string: "4 * (t - 1) ^ 3". */
function productString(p: Product): string {
  const parts: string[] = [];
  if (p.coef !== 1 || p.factors.size === 0) parts.push(String(p.coef));
  p.factors.forEach((f, key) => {
    const simple = f.poly.size === 1 && !key.includes(" ");
    const base = simple ? key : `(${key})`;
    parts.push(f.power === 1 ? base : `${base} ^ ${f.power}`);
  });
  return parts.join(" * ");
}

/**
 * LaTeX for variable names as a reader writes them: x1 -> x_{1}, sigma -> \sigma, pi -> \pi (mathjs
 * would print t upright, as the unit "tonne"). Other nodes keep mathjs's own LaTeX.
 */
function symbolTex(node: AnyNode): string | undefined {
  if (node.type !== "SymbolNode" || typeof node.name !== "string") return undefined;
  const greek = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "mu",
    "nu",
    "pi",
    "rho",
    "sigma",
    "tau",
    "phi",
    "psi",
    "omega",
    "theta",
    "lambda",
  ];
  const m = /^([A-Za-z]+?)_?(\d+)$/.exec(node.name);
  const base = (b: string) =>
    greek.includes(b) ? `\\${b}` : b.length === 1 ? b : `\\mathrm{${b}}`;
  // the leading space keeps "\cdot x" from running together (mathjs's own symbols start with one
  // too)
  return m ? ` ${base(m[1])}_{${m[2]}}` : ` ${base(node.name)}`;
}

function checkName(name: unknown, what: string): string {
  if (typeof name !== "string" || !/^[A-Za-z][A-Za-z0-9_]*$/.test(name)) {
    throw new Error(
      `symbolicContinuityResidual1D: ${what} must be a variable name like "x"; got ` +
        `${JSON.stringify(name)}`,
    );
  }
  return name;
}

/**
 * The 1-D continuity residual of a path and a field, derived and simplified symbolically.
 *
 * Steps: (1) d_t log p, d_x log p and d_x u by `math.derivative`; (2) their combination
 * residual / p = d_t log p + d_x u + u d_x log p; (3) one common denominator D, found by an exact
 * pass that keeps denominators as products of factors; (4) the numerator N = D * residual / p
 * expanded into a polynomial with exact integer coefficients. `isZero` is true when every
 * coefficient of N cancels, i.e. residual / p is identically zero.
 *
 * Function calls (cos, sqrt, log, ...) that survive differentiation, and the constants pi and e,
 * are treated as independent symbols. A zero answer is then still a proof; a non-zero answer might
 * hide an identity between them (such as cos^2 + sin^2 = 1) that this check does not know.
 *
 * @param input `{ logDensity, velocity, x?, t? }`, strings in mathjs syntax
 * @returns the derivative steps, the common denominator, the simplified numerator and `isZero`
 * @example
 * // The lecture's conditional path N(t x1, (1 - t)^2) and its field (x1 - x) / (1 - t):
 * const r = symbolicContinuityResidual1D({
 *   logDensity: "-(x - t*x1)^2 / (2*(1-t)^2) - log(1-t) - log(2*pi)/2",
 *   velocity: "(x1 - x) / (1 - t)",
 * }); r.simplified; // returns "0" // Twice that field is wrong: the numerator is a non-zero
 * polynomial. symbolicContinuityResidual1D({ logDensity: "...same...", velocity: "2*(x1 - x) / (1 -
 * t)" }).isZero; // returns false
 */
export function symbolicContinuityResidual1D(
  input: SymbolicContinuityInput,
): SymbolicContinuityResult {
  if (input === null || typeof input !== "object") {
    throw new Error(
      'symbolicContinuityResidual1D: pass one record { logDensity: "...", velocity: "...", x?: ' +
        '"x", t?: "t" }',
    );
  }
  const { logDensity, velocity } = input;
  if (typeof logDensity !== "string" || logDensity.trim() === "") {
    throw new Error(
      `symbolicContinuityResidual1D: logDensity must be a non-empty expression string; got ` +
        `${JSON.stringify(logDensity)}`,
    );
  }
  if (typeof velocity !== "string" || velocity.trim() === "") {
    throw new Error(
      `symbolicContinuityResidual1D: velocity must be a non-empty expression string; got ` +
        `${JSON.stringify(velocity)}`,
    );
  }
  const x = checkName(input.x ?? "x", "x");
  const t = checkName(input.t ?? "t", "t");
  if (x === t)
    throw new Error(
      `symbolicContinuityResidual1D: x and t must be different names; got "${x}" for both`,
    );

  const math = mathLib();
  const parse = (s: string, what: string): MathJs.MathNode => {
    try {
      return math.parse(s);
    } catch (err) {
      throw new Error(
        `symbolicContinuityResidual1D: could not parse ${what} "${s}": ${(err as Error).message}`,
      );
    }
  };
  const logp = parse(logDensity, "logDensity");
  const u = parse(velocity, "velocity");
  const symbols = new Set(
    logp.filter((n) => n.type === "SymbolNode").map((n) => (n as unknown as AnyNode).name),
  );
  if (!symbols.has(x)) {
    throw new Error(
      `symbolicContinuityResidual1D: logDensity must depend on the space variable "${x}"; got ` +
        `"${logDensity}"`,
    );
  }

  // (1) the three derivatives
  const derivative = (node: MathJs.MathNode, v: string, what: string): MathJs.MathNode => {
    try {
      return math.derivative(node, v);
    } catch (err) {
      throw new Error(
        `symbolicContinuityResidual1D: could not differentiate ${what} "${node.toString()}" in ` +
          `${v}: ${(err as Error).message}`,
      );
    }
  };
  const dLogPdt = derivative(logp, t, "logDensity");
  const dLogPdx = derivative(logp, x, "logDensity");
  const dUdx = derivative(u, x, "velocity");
  // (2) residual / p = d_t log p + d_x u + u d_x log p
  // " + (-a)" is written " - (a)" so that the displayed sum reads naturally
  const plus = (node: MathJs.MathNode): string => {
    const n = node as unknown as AnyNode;
    return n.type === "OperatorNode" && n.fn === "unaryMinus" && n.args
      ? ` - (${n.args[0].toString()})`
      : ` + (${node.toString()})`;
  };
  const sum = parse(
    `(${dLogPdt.toString()})${plus(dUdx)} + (${u.toString()}) * (${dLogPdx.toString()})`,
    "the residual",
  );

  // (3) one common denominator; function calls and pi, e become opaque symbols s0_, s1_, ... (a
  // prefix no input uses)
  const used = new Set([
    ...symbols,
    ...u.filter((n) => n.type === "SymbolNode").map((n) => (n as unknown as AnyNode).name),
  ]);
  let prefix = "s";
  while (
    Array.from(used).some(
      (name) => typeof name === "string" && name.startsWith(prefix) && name.endsWith("_"),
    )
  )
    prefix += "s";
  const opaqueNames = new Map<string, string>();
  const originals = new Map<string, string>();
  const opaque = (n: AnyNode): string => {
    if (n.type === "SymbolNode" && n.name !== "pi" && n.name !== "e") return n.name as string;
    const key = n.toString();
    let name = opaqueNames.get(key);
    if (name === undefined) {
      name = `${prefix}${opaqueNames.size}_`;
      opaqueNames.set(key, name);
      originals.set(name, key);
    }
    return name;
  };
  // Each of the three terms as a reduced fraction, then all over their least common denominator D;
  // N = sum of num_i * (D / den_i) is expanded as is (nothing cancelled against D), so N = D *
  // residual / p.
  const terms = [
    dLogPdt,
    dUdx,
    parse(`(${u.toString()}) * (${dLogPdx.toString()})`, "u d/dx log p"),
  ].map((node) => toRational(node as unknown as AnyNode, opaque));
  const commonDenominator = terms.reduce((acc, f) => lcm(acc, f.den), unit());
  const numeratorPoly = terms.reduce(
    (acc, f) => polyAdd(acc, expand(productTimes(f.num, quotient(commonDenominator, f.den)))),
    new Map() as Poly,
  );

  // (4) the numerator expanded into one exact polynomial: zero exactly when every coefficient
  // cancels
  const restore = (node: MathJs.MathNode): MathJs.MathNode =>
    node.transform((n) => {
      const name = (n as unknown as AnyNode).name;
      return n.type === "SymbolNode" && typeof name === "string" && originals.has(name)
        ? math.parse(originals.get(name) as string)
        : n;
    });
  const numerator = restore(math.parse(polyString(numeratorPoly)));
  const denominator = restore(math.parse(productString(commonDenominator)));
  const isZero = numeratorPoly.size === 0;
  const simplified = isZero ? "0" : `(${numerator.toString()}) / (${denominator.toString()})`;

  const step = (label: string, node: MathJs.MathNode): SymbolicStep => ({
    label,
    expression: node.toString(),
    tex: node.toTex({ parenthesis: "auto", handler: symbolTex }),
  });
  const steps: SymbolicStep[] = [
    step("d/dt log p", dLogPdt),
    step("d/dx log p", dLogPdx),
    step("d/dx u", dUdx),
    step("residual / p = d/dt log p + d/dx u + u d/dx log p", sum),
    step("common denominator D", denominator),
    step("numerator N = D * residual / p, expanded", numerator),
    step("residual / p, simplified", isZero ? math.parse("0") : math.parse(simplified)),
  ];
  return {
    dLogPdt: dLogPdt.toString(),
    dLogPdx: dLogPdx.toString(),
    dUdx: dUdx.toString(),
    residualOverP: sum.toString(),
    denominator: denominator.toString(),
    numerator: numerator.toString(),
    simplified,
    isZero,
    steps,
  };
}
