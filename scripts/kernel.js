// test launcher
const path = require("path");
process.chdir(path.resolve(__dirname, ".."));
const { startKernel } = require("tslab/dist/main");
const i = process.argv.indexOf("--config-path");
startKernel({ configPath: process.argv[i + 1], enableFindLocal: false, jsKernel: false, globalVersion: "" });
