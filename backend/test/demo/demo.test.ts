// The README's main job, end to end: `backend/demo/demo.ts` in non-keep mode, as `scripts/demo.sh`
// runs it (real registry, podman, agent, hub, plugin in chromium). Checks the claims it prints
// against the numbers it recorded in summary.json, and that it left its screenshots.
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { jest } from '@jest/globals';

import { run } from '../support/process.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';

jest.setTimeout(1_200_000);

const demo = fileURLToPath(new URL('../../demo/demo.ts', import.meta.url));
const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47]);

interface DemoSummary {
  normal: { registryBytes: number; appSaid: string };
  lazy: { registryBytes: number; appSaid: string };
  agentAtReady: { onDemandBytes: number; prefetchBytes: number };
  agentWhole: { onDemandBytes: number; prefetchBytes: number; backgroundBytes: number };
  hub: { pods: { lazy: number; normal: number }; lazyPulls: number };
  lazyPod: { lazy: boolean; pullSeconds: number | null };
}

describe('the local demo (scripts/demo.sh)', () => {
  let out: string;
  let result: { code: number; stdout: string; stderr: string };
  let summary: DemoSummary;

  beforeAll(async () => {
    out = await makeTempDir('demo-test');
    const env: NodeJS.ProcessEnv = { ...process.env, SLIPSTREAM_DEMO_OUTPUT: out };
    delete env.SLIPSTREAM_DEMO_KEEP;
    result = await run(process.execPath, ['--disable-warning=MODULE_TYPELESS_PACKAGE_JSON', demo], {
      env,
      allowFailure: true,
      timeoutMs: 1_100_000,
    });
    summary = JSON.parse(await readFile(join(out, 'summary.json'), 'utf8')) as DemoSummary;
  });

  afterAll(async () => {
    if (out) await removeDir(out);
  });

  it('runs every step and exits 0 after cleaning up', () => {
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    for (const step of ['0.', '1.', '2.', '3.', '4.', '5.', '6.']) {
      expect(result.stdout).toContain(`[demo] ${step} `);
    }
    expect(result.stdout).toContain('background fetch done: the whole image is local');
    expect(result.stdout).toContain('stopped and cleaned up');
  });

  it('runs the same app both ways, and the lazy pull fetches far fewer bytes before it is ready', () => {
    expect(summary.lazy.appSaid).toMatch(/read 4096 header bytes and 8388608 slice bytes/);
    expect(summary.normal.appSaid).toMatch(/read 4096 header bytes and 8388608 slice bytes/);
    expect(summary.lazy.registryBytes).toBeLessThan(summary.normal.registryBytes / 2);
    expect(summary.agentAtReady.onDemandBytes).toBeGreaterThan(0);
    // Afterwards the background fetch brought the rest: the whole layer crossed the network.
    const fetched =
      summary.agentWhole.onDemandBytes +
      summary.agentWhole.prefetchBytes +
      summary.agentWhole.backgroundBytes;
    expect(fetched).toBeGreaterThan(summary.normal.registryBytes * 0.9);
  });

  it("has the hub count the lazy pod, joined to the agent's lazy pull", () => {
    expect(summary.hub.pods).toEqual({ lazy: 1, normal: 1, total: 2 });
    expect(summary.hub.lazyPulls).toBeGreaterThanOrEqual(1);
    expect(summary.lazyPod.lazy).toBe(true);
    expect(summary.lazyPod.pullSeconds).not.toBeNull();
  });

  it('leaves a screenshot of each dashboard', async () => {
    const pngs = (await readdir(out)).filter((f) => f.endsWith('.png')).sort();
    expect(pngs).toEqual([
      'cluster-overview.png',
      'pod-startup.png',
      'startup-chunk-fetches.png',
      'startup-images.png',
      'startup-pods.png',
    ]);
    for (const png of pngs) {
      const bytes = await readFile(join(out, png));
      expect(bytes.subarray(0, 4).equals(PNG)).toBe(true);
      expect(bytes.length).toBeGreaterThan(10_000);
    }
  });
});
