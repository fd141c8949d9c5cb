#!/usr/bin/env bash
# Rebuilds Token.init.hex (OpenZeppelin ERC-20, creation code) from Token.sol with the solc-js
# and OpenZeppelin versions pinned in package.json / package-lock.json. Deterministic: running it
# again must leave `git diff` empty.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
node compile.js
