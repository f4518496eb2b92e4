#!/usr/bin/env node
// Compiles cells as the course kernel does (tslab's converter, loaded by scripts/kernel.js with its
// compile cache, section 10), outside Jupyter.
//
//   node scripts/compile-library.cjs [<course root>]
//
// compiles the course's library as every notebook's first cell imports it, which fills the kernel's
// compile cache (FM_COMPILE_CACHE as for the kernel); it says on stderr what came from the cache.
// The grader runs it before any student code (a student's kernel may read the cache but never write
// it); tests/kernel-cache.test.ts uses compileCells.
"use strict";
const path = require("path");

/**
 * Compiles `cells` in order in the course at `root`, with the cache in `setting` (a folder, "off",
 * or undefined for the kernel's default). Per cell: its diagnostics (message texts), the JavaScript
 * made of each imported file (path relative to `root`), the cell's own JavaScript; and the cache's
 * counts (null when off). Changes the process's working directory to `root`, as the kernel does.
 */
function compileCells(root, setting, cells) {
  process.chdir(root);
  const kernel = require(path.join(root, "scripts", "kernel.js"));
  const env = setting === undefined ? process.env : { FM_COMPILE_CACHE: setting };
  const dir = kernel.compileCacheDir(root, env);
  const cache = dir ? kernel.compileCache(dir, root) : null;
  const converter = kernel.loadConverter(cache).createConverter({ isJS: false, isBrowser: false });
  const results = [];
  let decl = "";
  try {
    for (const src of cells) {
      const out = converter.convert(decl, src);
      const diagnostics = (out.diagnostics || []).map(
        (d) => `${d.fileName || "cell"}: ${d.messageText}`, // tslab flattens message chains
      );
      results.push({
        diagnostics,
        imported: (out.sideOutputs || []).map((o) => ({
          path: path.relative(root, o.path),
          data: o.data,
        })),
        output: out.output || null,
      });
      if (diagnostics.length === 0) decl = out.declOutput;
    }
  } finally {
    converter.close();
  }
  const stats = cache
    ? { hits: cache.stats.hits, misses: cache.stats.misses, stored: cache.stats.stored }
    : null;
  return { cells: results, stats };
}

module.exports = { compileCells };

if (require.main === module) {
  const root = path.resolve(process.argv[2] || path.join(__dirname, ".."));
  const r = compileCells(root, undefined, ['import * as fm from "./src/index";']);
  if (r.cells[0].diagnostics.length > 0) {
    console.error(`the library does not compile:\n${r.cells[0].diagnostics.join("\n")}`);
    process.exit(1);
  }
  // The kernel's code logs what came from the cache ("library compiled: ...") on stderr.
  if (!r.stats) console.error("the library compiled (FM_COMPILE_CACHE=off: nothing kept)");
}
