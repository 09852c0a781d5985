import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

import type { K8sResourceCommon } from '@openshift-console/dynamic-plugin-sdk';
import type { BrowserContext, Page } from 'playwright-core';

import type { RecordedCall } from '../host/k8sStore';
import { RESULTS } from './paths';

/** Opens `path` in the host page with `seed` in the cluster store; waits until the plugin is loaded. */
export const openHost = async (
  context: BrowserContext,
  baseUrl: string,
  path: string,
  seed: K8sResourceCommon[],
  {
    allowed = true,
    beforeLoad,
  }: { allowed?: boolean; beforeLoad?: (page: Page) => Promise<void> } = {},
): Promise<Page> => {
  const page = await context.newPage();
  await beforeLoad?.(page);
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.addInitScript(
    ({ objects, allowed: mayChange }) => {
      Object.assign(window, { __seed: objects, __allowed: mayChange });
    },
    { objects: seed, allowed },
  );
  await page.goto(`${baseUrl}${path}`);
  await page.waitForFunction(() => window.slipstreamHost?.ready || window.slipstreamHost?.error);
  const error = await page.evaluate(() => window.slipstreamHost.error);
  if (error || errors.length > 0) throw new Error(`host failed: ${error ?? errors.join('\n')}`);
  return page;
};

export const recordedCalls = (page: Page): Promise<RecordedCall[]> =>
  page.evaluate(() => window.slipstreamHost.store.calls);

export const screenshot = async (page: Page, name: string) => {
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: true });
};
