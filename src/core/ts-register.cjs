// Teaches Node's require to load the library's TypeScript sources directly: each .ts file is
// translated with TypeScript's transpileModule (types dropped, nothing checked; `npm run typecheck`
// checks them), the same translation the notebooks' kernel makes. Used by the helper threads
// (worker.cjs) and by the benchmark (`node -r ./src/core/ts-register.cjs bench/bench.ts`).
"use strict";
const { readFileSync } = require("node:fs");

if (!require.extensions[".ts"]) {
  const ts = require("typescript");
  const compilerOptions = {
    module: ts.ModuleKind.CommonJS,
    target: ts.ScriptTarget.ES2020,
    esModuleInterop: true,
  };
  require.extensions[".ts"] = (module, filename) => {
    const { outputText } = ts.transpileModule(readFileSync(filename, "utf8"), {
      fileName: filename,
      compilerOptions,
    });
    module._compile(outputText, filename);
  };
}
