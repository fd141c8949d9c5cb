#!/usr/bin/env bash
# Rebuilds every NAME.init.hex (creation code) from NAME.sol (Token: OpenZeppelin ERC-20) with the solc-js
# and OpenZeppelin versions pinned in package.json / package-lock.json. Deterministic: running it
# again must leave `git diff` empty.
set -euo pipefail
cd "$(dirname "$0")"
npm ci --no-audit --no-fund --silent
node compile.js
