#!/usr/bin/env bash
# Runs the benchmarks (not tests): provisions like scripts/test.sh, then every bench/<name>/run.ts
# in turn (see bench/run.ts). Needs root: the startup and registry benchmarks build network
# namespaces for their emulated links. Results: bench/results/*.json and docs/benchmarks.md.
#   npm run bench                                   # everything, full size (long)
#   npm run bench -- startup -- --scale small --reps 1 --warmup 0 --links 20ms-1gbit
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/node-env.sh
exec node bench/run.ts "$@"
