#!/usr/bin/env bash
# Runs every check and every test: lint, typecheck, the production plugin build (with the console
# SDK's shared-module validation), then all jest projects (plugin, backend with real services,
# browser). Installs what it needs first. Ends with a line "N passed, N failed, N skipped".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/node-env.sh

step() { printf '\n==> %s\n' "$*"; }
step "lint";      npm run -s lint
step "typecheck"; npm run -s typecheck
step "build";     npm run -s build

step "tests"
mkdir -p test-results
status=0
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci \
  --json --outputFile=test-results/jest.json "$@" || status=$?
node -e '
  const r = require("./test-results/jest.json");
  console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
  if (r.numFailedTestSuites > 0 && r.numFailedTests === 0) console.log(`(${r.numFailedTestSuites} test suites failed to run)`);
' || true
exit "$status"
