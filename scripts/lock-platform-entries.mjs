// Keeps `npm ci` working with registry mirrors that do not serve every platform build.
// npm leaves an optional platform package (e.g. @swc/core-darwin-arm64) out of package-lock.json
// when the registry answers 404 for it, and `npm ci` then refuses the lock as "out of sync".
// This adds those entries with the os/cpu their names declare, so npm skips them on other
// platforms without fetching. Idempotent: prints how many entries it added (usually 0).
import { readFileSync, writeFileSync } from 'node:fs';
const lock = JSON.parse(readFileSync('package-lock.json', 'utf8'));
const pk = lock.packages;
let added = 0;
for (const [path, entry] of Object.entries(pk)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const base = path ? `${path}/node_modules/${name}` : `node_modules/${name}`;
    if (pk[base] || pk[`node_modules/${name}`]) continue;
    const os = [
      'darwin',
      'linux',
      'win32',
      'freebsd',
      'android',
      'openharmony',
      'wasm32',
      'sunos',
      'aix',
      'netbsd',
      'openbsd',
    ].find((o) => name.includes(o));
    const cpu = [
      'arm64',
      'x64',
      'ia32',
      'arm',
      'ppc64',
      's390x',
      'riscv64',
      'loong64',
      'wasm32',
    ].find((c) => name.includes(`-${c}`));
    pk[`node_modules/${name}`] = {
      version,
      dev: entry.dev,
      optional: true,
      ...(os ? { os: [os] } : {}),
      ...(cpu ? { cpu: [cpu] } : {}),
    };
    added++;
  }
}
if (added > 0) writeFileSync('package-lock.json', JSON.stringify(lock, null, 2) + '\n');
if (added > 0) console.log(`lock-platform-entries: added ${added} optional platform entries`);
