import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
// SLIPSTREAM_PLUGIN_DIST builds and serves the plugin elsewhere, so that a test run does not replace
// the dist/ another run may be using.
export const DIST = resolve(process.env.SLIPSTREAM_PLUGIN_DIST ?? resolve(REPO, 'dist'));
export const HOST_SRC = resolve(REPO, 'integration-tests', 'host');
export const RESULTS = resolve(REPO, 'test-results');
export const node_modules = (...parts: string[]) => resolve(REPO, 'node_modules', ...parts);
