// Compiles Token.sol with the pinned solc-js (package-lock.json) into Token.init.hex, the
// creation bytecode checked in beside it. Run through compile.sh.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const source = fs.readFileSync(path.join(__dirname, "Token.sol"), "utf8");
const input = {
  language: "Solidity",
  sources: { "Token.sol": { content: source } },
  settings: {
    optimizer: { enabled: true, runs: 200 },
    evmVersion: "cancun",
    // No metadata hash: the bytecode depends on the sources and compiler only, not on paths.
    metadata: { bytecodeHash: "none", appendCBOR: false },
    outputSelection: { "Token.sol": { Token: ["evm.bytecode.object"] } },
  },
};
function findImports(p) {
  try {
    return { contents: fs.readFileSync(require.resolve(p), "utf8") };
  } catch (e) {
    return { error: `not found: ${p}` };
  }
}
const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
const errors = (out.errors || []).filter((e) => e.severity === "error");
if (errors.length > 0) {
  for (const e of errors) console.error(e.formattedMessage);
  process.exit(1);
}
const code = out.contracts["Token.sol"].Token.evm.bytecode.object;
fs.writeFileSync(path.join(__dirname, "Token.init.hex"), code + "\n");
console.log(`solc ${solc.version()}: Token.init.hex, ${code.length / 2} bytes`);
