import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DIST = resolve(REPO, 'dist');
export const HOST_SRC = resolve(REPO, 'integration-tests', 'host');
export const RESULTS = resolve(REPO, 'test-results');
export const node_modules = (...parts: string[]) => resolve(REPO, 'node_modules', ...parts);
