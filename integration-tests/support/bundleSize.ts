// Bundle size as the browser sees it: every plugin script a page really loads (the console-shared
// modules come from the host, so their fallbacks are not loaded and not counted), gzip-compressed.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

import type { Page } from 'playwright-core';

import { DIST } from './paths';

const PREFIX = '/api/plugins/slipstream/';

/** Records the plugin files the page fetches from now on. */
export const recordPluginFiles = (page: Page): Set<string> => {
  const files = new Set<string>();
  page.on('request', (request) => {
    const { pathname } = new URL(request.url());
    if (pathname.startsWith(PREFIX) && pathname.endsWith('.js')) {
      files.add(pathname.slice(PREFIX.length));
    }
  });
  return files;
};

export type SizedFile = { file: string; bytes: number; gzipBytes: number };

export const sizeOf = (files: Iterable<string>): { total: number; files: SizedFile[] } => {
  const sized = [...files].sort().map((file) => {
    const content = readFileSync(join(DIST, file));
    return { file, bytes: content.length, gzipBytes: gzipSync(content, { level: 9 }).length };
  });
  return { total: sized.reduce((n, f) => n + f.gzipBytes, 0), files: sized };
};
