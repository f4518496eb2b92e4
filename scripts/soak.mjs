#!/usr/bin/env node
// The soak of issue 13: builds the whole course several times in a row (3 by default), optionally
// while CPU burners keep cores busy, and prints each notebook's wall time in every round beside the
// run-time targets (at most 45 s on a quiet 2-core machine, at most 90 s with one other CPU-bound
// process running). A notebook that fails in any round fails the soak (exit code 1); a time over
// its target is reported, not failed: wall times depend on the machine.
//
//   npm run soak                   # 3 builds, no burner
//   npm run soak -- --burners 1    # 3 builds while one process spins on one core
//   npm run soak -- --rounds 5 --out /tmp/soak   (build/ is left alone with --out)
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { buildCourse } from "./notebooks.mjs";

const QUIET_TARGET = 45;
const LOADED_TARGET = 90;

function parseArgs(argv) {
  const args = { rounds: 3, burners: 0, out: null, help: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++i];
    };
    if (a === "--rounds") args.rounds = Number(next());
    else if (a === "--burners") args.burners = Number(next());
    else if (a === "--out") args.out = next();
    else if (a === "-h" || a === "--help") args.help = true;
    else throw new Error(`unknown argument ${a} (try --help)`);
  }
  if (!Number.isInteger(args.rounds) || args.rounds < 1 || args.rounds > 100) {
    throw new Error(`--rounds must be an integer from 1 to 100; got ${args.rounds}`);
  }
  if (!Number.isInteger(args.burners) || args.burners < 0 || args.burners > 64) {
    throw new Error(`--burners must be an integer from 0 to 64; got ${args.burners}`);
  }
  return args;
}

/** Starts `count` processes that each spin one core until stopped. */
function startBurners(count) {
  return Array.from({ length: count }, () =>
    spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" }),
  );
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(
      "usage: npm run soak -- [--rounds N] [--burners K] [--out DIR]\n" +
        "Builds every notebook N times in a row (default 3) while K processes spin a core each\n" +
        "(default 0), then prints each notebook's time per round against the targets.",
    );
    return 0;
  }
  const outDir = args.out ?? mkdtempSync(join(tmpdir(), "fm-soak-"));
  const target = args.burners > 0 ? LOADED_TARGET : QUIET_TARGET;
  console.log(
    `Soak: ${args.rounds} build(s) of the course, ${args.burners} CPU burner(s) on ` +
      `${availableParallelism()} core(s); executed notebooks in ${outDir}`,
  );
  const burners = startBurners(args.burners);
  const stop = () => burners.forEach((b) => b.kill("SIGKILL"));
  process.on("exit", stop);
  const rounds = [];
  try {
    for (let r = 1; r <= args.rounds; r++) {
      console.log(`\n--- round ${r} of ${args.rounds} (load average ${loadavg()[0].toFixed(1)})`);
      const { entries } = await buildCourse({ outDir, log: () => {} });
      rounds.push(entries);
      const failed = entries.filter((e) => e.error).map((e) => basename(e.notebook));
      console.log(
        `round ${r}: ${entries.length - failed.length} of ${entries.length} passed` +
          (failed.length ? `; FAILED: ${failed.join(", ")}` : ""),
      );
      for (const e of entries.filter((x) => x.error)) {
        console.log(`  ${String(e.error instanceof Error ? e.error.message : e.error)}`);
      }
    }
  } finally {
    stop();
  }
  const names = rounds[0].map((e) => basename(e.notebook, ".ipynb"));
  console.log(`\nWall time per notebook (s; target ${target} s with ${args.burners} burner(s))`);
  console.log(
    `${"notebook".padEnd(30)}${rounds.map((_, i) => `round ${i + 1}`.padStart(10)).join("")}`,
  );
  let failures = 0;
  let over = 0;
  names.forEach((name, k) => {
    const cells = rounds.map((entries) => {
      const e = entries[k];
      if (e.error) {
        failures++;
        return "FAILED".padStart(10);
      }
      if (e.seconds > target) over++;
      return `${e.seconds.toFixed(1)}${e.seconds > target ? "!" : " "}`.padStart(10);
    });
    console.log(`${name.padEnd(30)}${cells.join("")}`);
  });
  const totals = rounds.map((entries) => entries.reduce((s, e) => s + (e.seconds ?? 0), 0));
  console.log(
    `${"total".padEnd(30)}${totals.map((t) => `${t.toFixed(1)} `.padStart(10)).join("")}`,
  );
  console.log(
    `\n${failures} failure(s) in ${args.rounds * names.length} notebook runs; ` +
      `${over} run(s) over the ${target} s target (marked !)`,
  );
  return failures ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(`soak: ${err instanceof Error ? err.message : err}`);
    process.exit(2);
  },
);
