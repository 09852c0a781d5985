#!/usr/bin/env bash
# Installs everything the demo and the tests need on a Debian 12 machine (run as root):
# Debian packages (registry, podman, containerd + ctr-remote, FUSE, chromium, Go + sprig for the
# chart renderer, ...), Node.js 24 from the npm registry, and the npm packages (npm ci).
# Idempotent and quick when everything is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  docker-registry podman skopeo buildah runc crun conmon catatonit containers-storage fuse-overlayfs
  uidmap slirp4netns netavark aardvark-dns containerd stargz-snapshotter
  fuse3 libfuse3-dev pkg-config gcc libc6-dev busybox-static debootstrap attr
  chromium fonts-dejavu-core jq apache2-utils openssl iproute2 iptables util-linux tar gzip python3
  golang-go golang-github-masterminds-sprig-dev golang-gopkg-yaml.v2-dev golang-gopkg-yaml.v3-dev libnetfilter-queue-dev
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "install-deps: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# shellcheck source=scripts/node-env.sh
source scripts/node-env.sh

node scripts/lock-platform-entries.mjs
# npm ci only when the lock file changed since the last successful install.
stamp="node_modules/.slipstream-lock-sha"
want="$(sha256sum package-lock.json | cut -d' ' -f1)-$(node -v)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "install-deps: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
