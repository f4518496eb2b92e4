// `npm run models`: trains every model the course ships from its recipe (src/model/shipped.ts) and
// writes assets/models/<name>.json through saveModel, recipe included. Deterministic: on the
// recipe's backend the same command writes the same parameters, bit for bit.
//
//   npm run models                    every shipped model
//   npm run models -- twoMoons-06     the ones named
//   npm run models -- --check         retrain and compare with the files instead of writing (exit 1
// on a difference)
import { initBackend } from "../src/core/backend";
import { stopThreads } from "../src/core/threads";
import {
  loadShippedModel,
  MODEL_RECIPES,
  modelRecipe,
  trainFromRecipe,
  writeShippedModel,
} from "../src/model/shipped";

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const check = args.includes("--check");
  const names = args.filter((a) => a !== "--check");
  for (const name of names) modelRecipe(name); // an unknown name fails before any work
  let failed = 0;
  for (const name of names.length ? names : Object.keys(MODEL_RECIPES)) {
    const start = Date.now();
    if (!check) {
      const file = await writeShippedModel(name);
      console.log(`${name}: wrote ${file} in ${((Date.now() - start) / 1000).toFixed(1)} s`);
      continue;
    }
    const recipe = modelRecipe(name);
    await initBackend({ backend: recipe.backend, quiet: true });
    const shipped = loadShippedModel(name);
    const { model } = await trainFromRecipe(recipe);
    let differing = 0;
    model.theta.forEach((v, i) => (differing += Object.is(v, shipped.model.theta[i]) ? 0 : 1));
    const seconds = ((Date.now() - start) / 1000).toFixed(1);
    console.log(
      `${name}: ${differing === 0 ? "reproduced bit for bit" : `${differing} parameters differ`} ` +
        `(${seconds} s)`,
    );
    if (differing > 0) failed++;
  }
  return failed > 0 ? 1 : 0;
}

main()
  .then((code) => {
    stopThreads();
    process.exit(code);
  })
  .catch((err) => {
    console.error(`npm run models: ${err instanceof Error ? err.message : String(err)}`);
    stopThreads();
    process.exit(2);
  });
