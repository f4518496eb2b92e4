// Every test file starts on the library's chosen backend (FM_BACKEND forces one) with a fixed seed.
import { beforeAll } from "vitest";
import { initBackend } from "../src/core/backend";
import { seed } from "../src/core/random";

beforeAll(async () => {
  await initBackend({ quiet: true });
  seed(0);
});
