// Makes sure dist/ holds a production build of the current sources (the browser tests exercise
// the BUILT plugin): rebuilds with the repo's own webpack config when anything is newer than it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';

import { DIST, REPO } from './paths';

const newestMtime = (path: string): number => {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return readdirSync(path).reduce((max, entry) => Math.max(max, newestMtime(join(path, entry))), 0);
};

const INPUTS = ['src', 'locales', 'console-extensions.json', 'package.json', 'webpack.config.ts'];

export const ensurePluginBuilt = (): void => {
  const manifest = join(DIST, 'plugin-manifest.json');
  const built = existsSync(manifest) ? statSync(manifest).mtimeMs : 0;
  const inputs = Math.max(...INPUTS.map((p) => newestMtime(join(REPO, p))));
  if (built > inputs) return;
  rmSync(DIST, { recursive: true, force: true });
  const result = spawnSync(
    process.execPath,
    [
      '-r',
      'ts-node/register',
      join(REPO, 'node_modules/webpack/bin/webpack.js'),
      '--output-path',
      DIST,
    ],
    { cwd: REPO, env: { ...process.env, NODE_ENV: 'production' }, encoding: 'utf8' },
  );
  if (result.status !== 0) {
    throw new Error(`plugin build failed:\n${result.stdout}\n${result.stderr}`);
  }
};
