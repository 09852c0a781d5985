#!/usr/bin/env bash
# The main job: the local demo (registry, sample eStargz image, agent, lazy pull with podman,
# hub and dashboards). Installs what it needs first. Must run as root (FUSE, podman, mounts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
source scripts/node-env.sh
exec node --disable-warning=MODULE_TYPELESS_PACKAGE_JSON backend/demo/demo.ts "$@"
