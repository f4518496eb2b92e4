#!/usr/bin/env node
// The quoted-number check (issue 16): every number an executed notebook quotes in its markdown must
// appear in some output of that notebook, within the rounding the prose uses.
//
//   npm run quoted-numbers -- build/01-trajectory-and-flow.ipynb   check executed notebooks (exit 1
//     if any fails)
//   npm run quoted-numbers -- --list build/*.ipynb                 every quoted number found, and
//     its verdict
//
// The course build (`npm start`) runs it on the notebooks of scripts/checked-notebooks.mjs.
//
// Which tokens are quoted numbers (quotedNumbers): numerals in markdown prose, tables and formulas
// ($...$, $$...$$), e.g. 0.23, 1,624, 50\,000, 6e-3, 6 \times 10^{-3}, 10^{-8}, 70%, 5x, 4 times.
// Not numbers: anything in code (`...`, fenced blocks), links, HTML tags and comments; digits glued
// to letters or underscores (x1, RK4, float32, p_0, 2D, 1st), compounds (1-D, 50-step), versions
// (6.4.12), times (0:05) and ISO dates (2026-11-29); in formulas, subscripts and superscripts (x_1,
// p_{0.5}, x^2), except a power of ten (10^{-8} is the number 1e-8). Not quoted numbers: integers
// from 0 to 10 (names, dimensions, counts, t = 0 and 1, small exponents) unless marked as measured
// (a percentage, a ratio "5x" or "4 times", or "about/roughly/~ 5"); numbers right after notebook,
// lecture, section, exercise, concept, chapter, part, figure, issue, cell, question or minute(s)
// (and the list that follows: "notebooks 3 and 4", "minutes 10 to 24"); list and heading numbers
// ("1.", "## 2."); outside formulas, a year 1900-2099 after a capitalised word, "al." or "("
// ("(Chen et al. 2018)", "Liu 2022"); the stated reading time ("main path about N minutes",
// "exercises about N minutes": scripts/reading-time.mjs checks those). (A year must also end the
// citation: be followed by ")", ",", ";", "." or the end of the text.)
//
// Matching (matches): a number written with d decimals matches an output within half a unit of its
// last digit (0.23 matches 0.2304 and 0.225; 1624 matches 1623.6); 6e-3 matches 5.5e-3 to 6.5e-3.
// "About", "roughly", "around", "approximately", "nearly", "almost", "~", "≈" widen that to 5 % of
// the value (about 70% matches 72%), and a bare power of ten with one of them ("~10^{-5}") matches
// within a factor sqrt(10). A percentage p also matches an output fraction p/100. Without an
// explicit minus sign the output's sign is ignored ("an error of 0.03" matches -0.03); with one, it
// must agree. The outputs searched: printed text (stdout), text/plain, text/markdown and text/html
// results, and in figures the text a reader sees: titles, axis titles, annotations, trace names and
// slider labels (never the plotted data arrays).
//
// A number that is not an output (a value set in code and named in prose, a definition) is marked
// in its own markdown cell with an HTML comment, invisible when rendered, that lists it and says
// why:
//   <!-- not-output: 0.8, 0.2 (the mixture's weights, set in code) -->
// It exempts those values in that cell only; a listed value the cell does not quote, or a marker
// without its reason, is itself reported.
import { basename, resolve } from "node:path";
import { readNotebook, runAsCli, sourceOf } from "./exercises.mjs";

const PLOTLY_MIME = "application/vnd.plotly.v1+json";
const MARKER = /<!--\s*not-output:([\s\S]*?)-->/g;
const APPROX = new RegExp(
  String.raw`(?:\babout|\baround|\broughly|\bapproximately` +
    String.raw`|\bnearly|\balmost|\bof order|\border of|~|≈|∼)\s*$`,
  "i",
);
const REFERENCE_WORD =
  "(?:notebooks?|lectures?|sections?|exercises?|concepts?|chapters?|parts?|" +
  "figures?|fig\\.|issues?|cells?|" +
  "questions?|minutes?|§)";
const REFERENCE = new RegExp(`\\b${REFERENCE_WORD}\\s*(?:\\d+\\s*(?:,|and|or|to|-|–)\\s*)*$`, "i");
const YEAR_BEFORE = /(?:\(|\b[A-Z][\p{L}'-]*,?|\bal\.,?)\s*$/u;
const UNITS = new Set(["ms", "s", "us", "µs", "min"]);
/** Numerals: 1,624 / 50000 / 0.23 / .5 with an optional exponent. */
const NUMERAL = /(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)([eE][-−+]?\d+)?/g;

/**
 * The content of a brace group starting at `open` (an index of "{"): [content, index after "}"].
 */
function braceGroup(text, open) {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === "{") depth++;
    else if (text[i] === "}" && --depth === 0) return [text.slice(open + 1, i), i + 1];
  }
  return [text.slice(open + 1), text.length];
}

/**
 * A formula's source as plain text for the tokenizer (see the header: indices out, powers of ten
 * in).
 */
function mathText(tex) {
  let s = tex.replace(/(\d)\\,(?=\d{3}\b)/g, "$1").replace(/\\%/g, "%");
  s = s.replace(/\\[dt]?frac\s*(\d)\s*(\d)/g, " $1 / $2 "); // \tfrac12 is 1/2
  s = s.replace(/\\(?:sim|approx|simeq)\b/g, " ~ ");
  // a mantissa times a power of ten, then a bare power of ten (flagged with "^" so it is read as
  // one)
  const exponent = "\\^\\s*(?:\\{\\s*([-−+]?\\d+)\\s*\\}|([-−+]?\\d))";
  s = s.replace(
    new RegExp(`(\\d+(?:\\.\\d+)?)\\s*(?:\\\\times|\\\\cdot|×|·)\\s*10\\s*${exponent}`, "g"),
    (_, m, a, b) => ` ${m}e${(a ?? b).replace("−", "-")} `,
  );
  s = s.replace(
    new RegExp(`(?<![\\d.])10\\s*${exponent}`, "g"),
    (_, a, b) => ` ^1e${(a ?? b).replace("−", "-")} `,
  );
  // subscripts and superscripts go
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if ((c === "_" || (c === "^" && !/^1e/.test(s.slice(i + 1)))) && i + 1 < s.length) {
      let j = i + 1;
      while (s[j] === " ") j++;
      if (s[j] === "{") j = braceGroup(s, j)[1];
      else if (s[j] === "\\") {
        j++;
        while (j < s.length && /[A-Za-z]/.test(s[j])) j++;
      } else j++;
      out += " ";
      i = j - 1;
      continue;
    }
    out += c;
  }
  return out
    .replace(/\\[A-Za-z]+/g, " ")
    .replace(/\\./g, " ")
    .replace(/[{}]/g, " ");
}

/** A markdown source cut into prose and formula segments, with what is not read removed. */
function segments(markdown) {
  let text = markdown
    .replace(/<!--[\s\S]*?-->/g, " ")
    .replace(/```[\s\S]*?```/g, " ")
    .replace(/`[^`\n]*`/g, " ")
    .replace(/\]\([^)]*\)/g, "] ")
    .replace(/\bhttps?:\/\/\S+/g, " ")
    .replace(/<\/?[A-Za-z][^>]*>/g, " ")
    .replace(/\b\d{4}-\d{2}-\d{2}\b/g, " ")
    .replace(/\b(?:main path|exercises) about \d+ minutes?/gi, " ")
    .replace(/^(\s*#{1,6}\s*)\d+(?:\.\d+)*\.?(?=\s)/gm, "$1")
    .replace(/^(\s*)\d+[.)](?=\s)/gm, "$1");
  const out = [];
  const math = /\$\$([\s\S]+?)\$\$|\$([^$\n]+?)\$/g;
  let last = 0;
  for (const m of text.matchAll(math)) {
    if (m.index > last) out.push({ text: text.slice(last, m.index), math: false });
    out.push({ text: ` ${mathText(m[1] ?? m[2])} `, math: true });
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push({ text: text.slice(last), math: false });
  return out;
}

/**
 * The quoted numbers of a markdown source (see the header for the rules), in order:
 * { token, value, halfUnit, approx, percent, ratio, power, signed, context }.
 */
export function quotedNumbers(markdown) {
  const found = [];
  let before = ""; // the text read so far (prose and formulas), for the words in front of a number
  for (const seg of segments(markdown)) {
    const t = seg.text;
    for (const m of t.matchAll(NUMERAL)) {
      const start = m.index;
      const end = start + m[0].length;
      const prev = t[start - 1] ?? " ";
      const prefix = before + t.slice(0, start);
      const after = t.slice(end);
      const power = prev === "^" && seg.math;
      if (!power && /[\p{L}\p{N}_.]/u.test(prev)) continue; // x1, p_0, 6.4.12's tail
      if (/^\.\d/.test(after) || /^:\d\d/.test(after) || /\d:$/.test(t.slice(0, start))) continue;
      if (/^-\p{L}/u.test(after)) continue; // 1-D, 50-step
      const suffix = /^\p{L}+/u.exec(after)?.[0] ?? "";
      const ratio = suffix === "x" || /^\s*(?:×|times\b|-fold\b)/.test(after);
      if (suffix && !ratio && !UNITS.has(suffix)) continue; // 2D, 1st
      const percent = /^\s*%/.test(after);
      // a minus sign in front (not a range dash after a digit, letter or bracket)
      const signed = /(?:^|[\s(=$[,;:~<>≈])[-−]$/.test(prefix.slice(-2)) || /^[-−]$/.test(prefix);
      const approx = APPROX.test(prefix.replace(/[-−]$/, "").replace(/\^$/, ""));
      const body = m[1].replace(/,/g, "");
      const decimals = body.includes(".") ? body.split(".")[1].length : 0;
      const exp = m[2] ? Number(m[2].slice(1).replace("−", "-")) : 0;
      const value = Number(body) * 10 ** exp * (signed ? -1 : 1);
      const integer = !body.includes(".") && !m[2];
      if (REFERENCE.test(prefix)) continue;
      if (integer && Math.abs(value) <= 10 && !(ratio || percent || approx)) continue;
      const year = integer && !seg.math && /^\d{4}$/.test(body) && value >= 1900 && value <= 2099;
      if (year && YEAR_BEFORE.test(prefix) && /^\s*(?:[),;.]|$)/.test(after)) continue;
      const token =
        (signed ? "-" : "") + m[0] + (percent ? "%" : ratio && suffix === "x" ? "x" : "");
      const context = (before + t).slice(
        Math.max(0, before.length + start - 40),
        before.length + end + 30,
      );
      found.push({
        token: power ? `10^${exp}` : token,
        value,
        halfUnit: 0.5 * 10 ** (exp - decimals),
        approx,
        percent,
        ratio,
        power,
        signed,
        context: context.replace(/\s+/g, " ").trim(),
      });
    }
    before += t;
  }
  return found;
}

/**
 * The not-output markers of a markdown source: { values, reason, text } each, and malformed ones.
 */
export function notOutputMarkers(markdown) {
  const markers = [];
  for (const m of markdown.matchAll(MARKER)) {
    const body = m[1].trim();
    const reason = /\(([^()]*)\)\s*$/.exec(body);
    const list = (reason ? body.slice(0, reason.index) : body).split(/[\s,]+/).filter(Boolean);
    const values = list.map((v) => Number(v.replace(/\\,/g, "").replace(/%$/, "")));
    markers.push({ text: m[0], reason: reason ? reason[1].trim() : "", list, values });
  }
  return markers;
}

/** Numbers printed in one output string (identifier digits such as float32 or x1 left out). */
function numbersIn(text) {
  const values = [];
  const plain = text.replace(/−/g, "-");
  for (const m of plain.matchAll(/(-?)(\d[\d,]*(?:\.\d+)?|\.\d+)([eE][-+]?\d+)?/g)) {
    const prev = plain[m.index - 1] ?? " ";
    if (/[A-Za-z]/.test(prev)) continue;
    const exp = m[3] ? Number(m[3].slice(1)) : 0;
    const sign = m[1] ? -1 : 1;
    const parts = m[2].split(",").filter(Boolean);
    values.push(sign * Number(m[2].replace(/,/g, "")) * 10 ** exp); // 1,624 as one number
    if (parts.length > 1) for (const p of parts) values.push(Number(p)); // and "0.84,0.43" as two
  }
  return values.filter(Number.isFinite);
}

const FIGURE_TEXT_KEYS = new Set(["text", "name", "title", "label", "prefix", "ticktext"]);

/** The text a reader sees in a plotly figure: titles, axis titles, annotations, names, labels. */
function figureText(value, key = "", out = []) {
  if (typeof value === "string") {
    if (FIGURE_TEXT_KEYS.has(key)) out.push(value);
  } else if (Array.isArray(value)) {
    for (const v of value) figureText(v, key, out);
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) figureText(v, k, out);
  }
  return out;
}

/** Every number shown by the outputs of a notebook's code cells. */
export function outputNumbers(nb) {
  const texts = [];
  for (const cell of nb.cells) {
    if (cell.cell_type !== "code") continue;
    for (const o of cell.outputs ?? []) {
      if (o.output_type === "stream") texts.push(sourceOf({ source: o.text }));
      const data = o.data ?? {};
      if (data[PLOTLY_MIME]) {
        texts.push(...figureText(data[PLOTLY_MIME]));
        continue;
      }
      for (const mime of ["text/plain", "text/markdown", "text/latex"]) {
        if (data[mime]) texts.push(sourceOf({ source: data[mime] }));
      }
      if (data["text/html"])
        texts.push(sourceOf({ source: data["text/html"] }).replace(/<[^>]*>/g, " "));
    }
  }
  return texts.flatMap(numbersIn);
}

/** Whether output value `v` shows the quoted number `q` (see the header for the rounding rules). */
export function matches(q, v) {
  const candidates = q.percent ? [v, 100 * v] : [v];
  return candidates.some((w) => {
    const x = q.signed ? w : Math.abs(w);
    const target = q.signed ? q.value : Math.abs(q.value);
    if (q.power && q.approx) return x > 0 && Math.abs(Math.log10(x / target)) <= 0.5 + 1e-12;
    let tol = q.halfUnit * (1 + 1e-9) + 1e-12 * Math.abs(target);
    if (q.approx) tol = Math.max(tol, 0.05 * Math.abs(target));
    return Math.abs(x - target) <= tol;
  });
}

/**
 * Every quoted number of an executed notebook (an object or a path) with its verdict:
 * { cell (0-based index), token, value, context, shown, exempt, closest }, and marker problems.
 */
/**
 * Whether a marked value and a quoted one are the same number up to sign, within float rounding
 * ("$10^{-5}$" is computed as 10 ** -5, which is not the double 1e-5).
 */
function sameNumber(a, b) {
  return Math.abs(Math.abs(a) - Math.abs(b)) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b));
}

export function checkQuotedNumbers(notebook) {
  const nb = typeof notebook === "string" ? readNotebook(notebook) : notebook;
  const outputs = [...new Set(outputNumbers(nb))];
  const numbers = [];
  const problems = [];
  nb.cells.forEach((cell, index) => {
    if (cell.cell_type !== "markdown") return;
    const source = sourceOf(cell);
    const markers = notOutputMarkers(source);
    const quoted = quotedNumbers(source);
    for (const mk of markers) {
      if (!mk.reason)
        problems.push({ cell: index, message: `${mk.text} gives no reason in brackets` });
      mk.list.forEach((raw, k) => {
        if (!Number.isFinite(mk.values[k]))
          problems.push({ cell: index, message: `${mk.text}: "${raw}" is not a number` });
        else if (!quoted.some((q) => sameNumber(q.value, mk.values[k]))) {
          problems.push({
            cell: index,
            message: `${mk.text} lists ${raw}, which this cell does not quote`,
          });
        }
      });
    }
    const exemptValues = markers.flatMap((mk) => mk.values);
    for (const q of quoted) {
      const exempt = exemptValues.some((v) => sameNumber(v, q.value));
      const shown = exempt ? false : outputs.some((v) => matches(q, v));
      let closest = null;
      if (!shown && !exempt) {
        for (const v of outputs) {
          if (
            closest === null ||
            Math.abs(Math.abs(v) - Math.abs(q.value)) <
              Math.abs(Math.abs(closest) - Math.abs(q.value))
          ) {
            closest = v;
          }
        }
      }
      numbers.push({ cell: index, ...q, shown, exempt, closest });
      if (!shown && !exempt) {
        problems.push({
          cell: index,
          token: q.token,
          message:
            `"${q.token}" is quoted but no output shows it (in "…${q.context}…"` +
            `${closest === null ? "" : `; the nearest output number is ${closest}`})`,
        });
      }
    }
  });
  return { numbers, problems };
}

/**
 * The problems as lines naming the cell: "cell 12 (## 3. The path): ..." (cells counted from 1).
 */
export function describeProblems(nb, problems) {
  return problems.map((p) => {
    const first = sourceOf(nb.cells[p.cell]).trim().split("\n")[0].slice(0, 50);
    return `markdown cell ${p.cell + 1} ("${first}"): ${p.message}`;
  });
}

function parseArgs(argv) {
  const args = { list: false, notebooks: [] };
  for (const a of argv) {
    if (a === "--list") args.list = true;
    else if (a === "-h" || a === "--help") args.help = true;
    else if (a.startsWith("-")) throw new Error(`unknown option ${a} (try --help)`);
    else args.notebooks.push(resolve(a));
  }
  if (!args.help && !args.notebooks.length)
    throw new Error("name the executed notebooks to check (build/*.ipynb)");
  return args;
}

function main(args) {
  let failed = 0;
  for (const path of args.notebooks) {
    const nb = readNotebook(path);
    const { numbers, problems } = checkQuotedNumbers(nb);
    if (args.list) {
      for (const q of numbers) {
        const verdict = q.exempt ? "marked not-output" : q.shown ? "shown" : "NOT SHOWN";
        console.log(
          `${basename(path)}  cell ${q.cell + 1}  ${q.token.padEnd(10)} ${verdict.padEnd(17)} ` +
            `${q.context}`,
        );
      }
    }
    for (const line of describeProblems(nb, problems)) console.log(`${basename(path)}, ${line}`);
    console.log(
      `${basename(path)}: ${numbers.length} quoted number(s), ${problems.length} problem(s)`,
    );
    if (problems.length) failed++;
  }
  if (failed) throw new Error(`${failed} notebook(s) quote numbers that no output shows`);
}

runAsCli(import.meta.url, { name: "quoted-numbers", helpEnd: 9, errorCode: 1 }, parseArgs, main);
