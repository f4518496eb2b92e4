// The autograder's library server, in the student's jail: loads the student's src/ (TypeScript
// compiled on the fly, as tslab would) and answers the clean test run's calls on the functions the
// assignment blanked. The TA's hidden tests run outside, in a clean vitest process whose library
// calls these functions here (scripts/library-exercises.mjs gradeLibrary); what this process
// answers is data, checked there.
//
//   node library-server.cjs '<[{ "name": "eulerStep", "file": "src/solvers/ode.ts" }, ...]>'
"use strict";
const fs = require("fs");
const { Pipe, Endpoint } = require("./rpc.cjs");
const { libraryHooks } = require("./hooks.cjs");

const COURSE = process.env.FM_GRADING_COURSE || "/course"; // set only without a jail (--no-jail)
const IO = process.env.FM_GRADING_IO || "/run/io";

function compileTypeScript() {
  const ts = require(`${COURSE}/node_modules/typescript`);
  require.extensions[".ts"] = (module, filename) => {
    const source = fs.readFileSync(filename, "utf8");
    const { outputText } = ts.transpileModule(source, {
      fileName: filename,
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2020,
        esModuleInterop: true,
      },
    });
    module._compile(outputText, filename);
  };
}

/** The student's function for a blanked name (`name`, `Class.method`), or one saying why not. */
function resolve(f) {
  try {
    const mod = require(`${COURSE}/${f.file}`);
    const [owner, member] = f.name.includes(".") ? f.name.split(".") : [null, f.name];
    if (owner === null) {
      if (typeof mod[member] !== "function")
        throw new Error(`${f.file} does not export a function ${member}`);
      return mod[member];
    }
    const proto = mod[owner] && mod[owner].prototype;
    const desc = proto && Object.getOwnPropertyDescriptor(proto, member);
    const fn = desc && (desc.get || desc.value);
    if (typeof fn !== "function")
      throw new Error(`${owner}.${member} is not a method of ${f.file}`);
    // `this` is the clean side's object (reached through calls); what the student's own class
    // defines (other methods, getters) is looked up here first, so their method may call their
    // helpers.
    return function method(...args) {
      const remote = this;
      const self = new Proxy(remote ?? {}, {
        get: (t, key) =>
          typeof key === "string" && key !== "constructor" && key in proto
            ? Reflect.get(proto, key, self)
            : remote[key],
      });
      return fn.apply(self, args);
    };
  } catch (e) {
    const why = e && e.message ? e.message.split("\n")[0] : e;
    const message = `your src/ could not be loaded for ${f.name}: ${why}`;
    return () => {
      throw new Error(message);
    };
  }
}

async function main() {
  const functions = JSON.parse(process.argv[2]);
  compileTypeScript();
  const endpoint = new Endpoint(null);
  let lib = null;
  try {
    lib = require(`${COURSE}/src/index.ts`);
    if (typeof lib.initBackend === "function") await lib.initBackend({ quiet: true });
  } catch (e) {
    process.stderr.write(`src/index.ts did not load: ${e && e.stack ? e.stack : e}\n`);
  }
  if (lib && lib.tf) libraryHooks(endpoint, lib);
  for (const f of functions) endpoint.handle(resolve(f)); // handle k is the k-th function
  endpoint.pipe = new Pipe(`${IO}/rpc-lib.req`, `${IO}/rpc-lib.resp`, { blocking: true });
  endpoint.serve();
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`${e && e.stack ? e.stack : e}\n`);
    process.exit(3);
  },
);
