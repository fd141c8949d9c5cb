// Compiles every peer contract (Token.sol, Amm.sol, Lending.sol, Game.sol, Nft.sol) with the
// pinned solc-js (package-lock.json) into NAME.init.hex, the creation bytecode checked in
// beside it. Run through compile.sh.
"use strict";
const fs = require("fs");
const path = require("path");
const solc = require("solc");

const CONTRACTS = ["Token", "Amm", "Lending", "Game", "Nft"];
function findImports(p) {
  try {
    return { contents: fs.readFileSync(require.resolve(p), "utf8") };
  } catch (e) {
    return { error: `not found: ${p}` };
  }
}
for (const name of CONTRACTS) {
  const file = `${name}.sol`;
  const input = {
    language: "Solidity",
    sources: { [file]: { content: fs.readFileSync(path.join(__dirname, file), "utf8") } },
    settings: {
      optimizer: { enabled: true, runs: 200 },
      evmVersion: "cancun",
      // No metadata hash: the bytecode depends on the sources and compiler only, not on paths.
      metadata: { bytecodeHash: "none", appendCBOR: false },
      outputSelection: { [file]: { [name]: ["evm.bytecode.object"] } },
    },
  };
  const out = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (out.errors || []).filter((e) => e.severity === "error");
  if (errors.length > 0) {
    for (const e of errors) console.error(e.formattedMessage);
    process.exit(1);
  }
  const code = out.contracts[file][name].evm.bytecode.object;
  fs.writeFileSync(path.join(__dirname, `${name}.init.hex`), code + "\n");
  console.log(`solc ${solc.version()}: ${name}.init.hex, ${code.length / 2} bytes`);
}
