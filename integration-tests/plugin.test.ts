// The BUILT plugin (dist/) in headless Debian chromium, loaded by a host page the way the console
// loads it (manifest → entry → container with shared modules), SDK calls served by a host shim that
// records every k8sPatch / k8sCreate / k8sDelete, and the hub API proxied to a real, seeded hub.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { K8sResourceCommon } from '@openshift-console/dynamic-plugin-sdk';
import type { Page } from 'playwright-core';
import { parse } from 'yaml';

import { agentConfigMap } from '../src/utils/fixtures/agentConfigMap';
import {
  masterSlipstreamCtrcfg,
  workerLogLevelCtrcfg,
} from '../src/utils/fixtures/containerRuntimeConfigs';
import { featureGateDefault } from '../src/utils/fixtures/featureGates';
import { workerPoolUpdating } from '../src/utils/fixtures/machineConfigPools';
import { masterStoreMachineConfig } from '../src/utils/fixtures/machineConfigs';
import { lazyPod } from '../src/utils/fixtures/pods';
import { formatDuration, formatPercent } from '../src/utils/format/format';
import { fromDataUrl } from '../src/utils/machineconfig/dataUrl';
import type { ImageStats, ItemList, LayerStats, PodsPage, Summary } from '../src/utils/types/hub';
import type { MachineConfig } from '../src/utils/types/k8s';
import type { Browser } from './support/browser';
import { launchChromium } from './support/browser';
import { recordPluginFiles, sizeOf } from './support/bundleSize';
import { cluster } from './support/clusterFixtures';
import { buildHost } from './support/hostBuild';
import { openHost, recordedCalls, screenshot } from './support/hostPage';
import type { HostServer } from './support/hostServer';
import { startHostServer } from './support/hostServer';
import type { HubNode, RunningTestHub } from './support/hub';
import { startSeededHub } from './support/hub';
import { REPO, RESULTS } from './support/paths';
import { ensurePluginBuilt } from './support/pluginBuild';

let hostDir: string;
let server: HostServer;
let browser: Browser;
let hub: RunningTestHub & { nodes: HubNode[] };
let objects: K8sResourceCommon[];

beforeAll(async () => {
  ensurePluginBuilt();
  hostDir = await mkdtemp(join(tmpdir(), 'slipstream-host-'));
  await buildHost(hostDir);
  hub = await startSeededHub();
  objects = cluster(hub.nodes.map((n) => n.node));
  server = await startHostServer(hostDir, { url: hub.url, ca: hub.ca, token: hub.tokens.admin });
  browser = await launchChromium();
}, 600_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
  await hub?.stop();
  if (hostDir) await rm(hostDir, { recursive: true, force: true });
});

const STORE = '/var/lib/slipstream/store';
const STORE_RECORD = '/metadata/annotations/slipstream.io~1layer-store';

/** Opens the enable wizard for the worker pool with these objects and goes to its Review step. */
const openWorkerReview = async (withObjects: K8sResourceCommon[] = objects) => {
  const page = await openHost(
    browser.context,
    server.url,
    '/lazy-pulling/configure?action=enable&pool=worker',
    withObjects,
  );
  await nextThrough(page, 3);
  await page.getByTestId('review').waitFor();
  return page;
};

/** Clicks Next `steps` times. */
const nextThrough = async (page: Page, steps: number) => {
  for (let i = 0; i < steps; i += 1) await page.getByRole('button', { name: 'Next' }).click();
};

describe('overview', () => {
  it('shows each pool with its state, rollout, agent health and next step', async () => {
    const page = await openHost(browser.context, server.url, '/lazy-pulling', objects);
    await page.getByTestId('pools-table').waitFor();
    await page.getByTestId('pool-row-master').getByTestId('lazy-state-on').waitFor();
    const worker = page.getByTestId('pool-row-worker');
    await worker.getByTestId('lazy-state-off').waitFor();
    // Agent health comes from the hub: its agents report from the worker nodes.
    const healthy = hub.nodes.filter((n) => n.healthy && n.mountState === 'mounted').length;
    await worker.getByText(`${healthy} of ${hub.nodes.length} healthy`).waitFor();
    expect(await worker.getByTestId('next-step').textContent()).toBe(
      healthy === hub.nodes.length
        ? 'Ready: enable lazy pulling for this pool.'
        : `Start the Slipstream agent on the ${hub.nodes.length - healthy} nodes that lack it.`,
    );
    expect(await page.getByTestId('pool-row-infra').getByTestId('next-step').textContent()).toBe(
      'Start the Slipstream agent on the 2 nodes that lack it.',
    );
    expect(await page.getByTestId('rollout-infra').textContent()).toContain('0 of 2 updated');
    await screenshot(page, 'overview');
    await page.close();
  }, 60_000);

  it('asks to repair a pool enabled without its store MachineConfig', async () => {
    const withoutIt = objects.filter((o) => o !== masterStoreMachineConfig);
    const page = await openHost(browser.context, server.url, '/lazy-pulling', withoutIt);
    const master = page.getByTestId('pool-row-master');
    await master.getByTestId('lazy-state-on').waitFor();
    await master
      .getByTestId('next-step')
      .getByText('No MachineConfig creates the store directory at boot', { exact: false })
      .waitFor();
    await master.getByTestId('repair-master').click();
    await page.waitForURL('**/lazy-pulling/configure?action=enable&pool=master');
    await nextThrough(page, 3);
    await page.getByTestId('review').waitFor();
    await page.getByText('Nothing to change for this pool.').waitFor();
    expect(await page.getByTestId('machineconfig-yaml-master').textContent()).toContain(
      'name: 99-master-slipstream-store',
    );
    await page.close();
  }, 60_000);

  it('hides the actions from users who may not change ContainerRuntimeConfigs', async () => {
    const page = await openHost(browser.context, server.url, '/lazy-pulling', objects, {
      allowed: false,
    });
    await page.getByTestId('pool-row-worker').getByTestId('lazy-state-off').waitFor();
    expect(await page.getByTestId('enable-worker').count()).toBe(0);
    expect(await page.getByTestId('disable-master').count()).toBe(0);
    await page.goto(`${server.url}/lazy-pulling/configure?action=enable&pool=worker`);
    await page
      .getByText('You may not create or patch ContainerRuntimeConfigs and MachineConfigs.')
      .waitFor();
    await page.close();
  }, 60_000);
});

describe('enablement wizard', () => {
  it('patches the pool’s existing ctrcfg and the agent options, then follows the rollout', async () => {
    const page = await openHost(browser.context, server.url, '/lazy-pulling', objects);
    await page.getByTestId('enable-worker').click();
    await page.waitForURL('**/lazy-pulling/configure?action=enable&pool=worker');
    expect(await page.getByTestId('pick-pool-worker').isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Next' }).click();

    const path = page.getByTestId('store-path');
    await path.fill('var/lib/slipstream/store');
    expect(await page.getByTestId('store-path-help').textContent()).toContain(
      'The path must be absolute (start with /).',
    );
    expect(await page.getByRole('button', { name: 'Next' }).isDisabled()).toBe(true);
    await path.fill('/var/lib//store');
    expect(await page.getByTestId('store-path-help').textContent()).toContain(
      'The path must not contain //.',
    );
    await path.fill(STORE);
    await page.getByRole('button', { name: 'Next' }).click();

    await page.getByTestId('cache-size').fill('50Gi');
    await page.getByRole('button', { name: 'Next' }).click();

    await page.getByTestId('review').waitFor();
    const yaml = await page.getByTestId('change-yaml-worker').textContent();
    expect(yaml).toContain(
      '# PATCH containerruntimeconfigs.machineconfiguration.openshift.io/set-log-level',
    );
    expect(yaml).toContain(`- op: add\n  path: /spec/containerRuntimeConfig/additionalLayerStores`);
    await page.getByText('Nodes drain and reboot').waitFor();
    await page.getByText('Feature set: TechPreviewNoUpgrade').waitFor();
    expect(await page.getByTestId('agent-config-yaml').textContent()).toContain('cacheSize: 50Gi');
    const mcYaml = await page.getByTestId('machineconfig-yaml-worker').textContent();
    expect(mcYaml).toContain('# CREATE machineconfigs.machineconfiguration.openshift.io');
    expect(mcYaml).toContain(`#   d ${STORE} 0755 root root -`);
    await page.getByTestId('machineconfig-why').waitFor();
    await screenshot(page, 'wizard-review');

    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByTestId('result-worker').getByText('Pool worker: Applied').waitFor();
    await page.getByTestId('result-machineconfig-worker').getByText('Applied').waitFor();
    await page.getByTestId('result-agent-config').getByText('Applied').waitFor();

    const [configMapCall, machineConfigCall, ctrcfgCall, ...more] = await recordedCalls(page);
    expect(more).toEqual([]);
    // The agent options first (the agent reloads them), guarded by a test op on the old text.
    const original = agentConfigMap.data?.['agent.yaml'] ?? '';
    expect(configMapCall).toMatchObject({
      verb: 'patch',
      kind: 'ConfigMap',
      name: 'slipstream-agent',
      namespace: 'slipstream',
    });
    if (configMapCall.verb !== 'patch') throw new Error('expected a patch');
    const [unchanged, test, replace] = configMapCall.patch;
    expect(unchanged).toEqual({
      op: 'test',
      path: '/metadata/resourceVersion',
      value: agentConfigMap.metadata?.resourceVersion,
    });
    expect(test).toEqual({ op: 'test', path: '/data/agent.yaml', value: original });
    expect(replace).toMatchObject({ op: 'replace', path: '/data/agent.yaml' });
    expect(parse(replace.value as string)).toEqual({
      ...(parse(original) as object),
      cacheSize: '50Gi',
    });
    expect(replace.value).toContain('# Rendered by the slipstream Helm chart.');
    // Then the store MachineConfig, so that the directory exists at boot before storage.conf lists
    // the store (CRI-O does not start with a missing additional layer store).
    expect(machineConfigCall).toMatchObject({ verb: 'create', kind: 'MachineConfig' });
    if (machineConfigCall.verb !== 'create') throw new Error('expected a create');
    const machineConfig = machineConfigCall.object as MachineConfig;
    expect(machineConfig.metadata).toEqual({
      name: '99-worker-slipstream-store',
      labels: {
        'machineconfiguration.openshift.io/role': 'worker',
        'slipstream.io/created-by': 'slipstream-console',
      },
      annotations: { 'slipstream.io/layer-store': STORE },
    });
    const [file, ...otherFiles] = machineConfig.spec.config?.storage?.files ?? [];
    expect(otherFiles).toEqual([]);
    expect(file).toMatchObject({ path: '/etc/tmpfiles.d/slipstream-store.conf', mode: 0o644 });
    expect(fromDataUrl(file.contents?.source)).toBe(`d ${STORE} 0755 root root -\n`);
    // The wizard lists only its own MachineConfigs, by label, not the hundreds of rendered ones.
    const watches = await page.evaluate(() => window.slipstreamHost.store.watches);
    expect(watches.filter((w) => w.kind === 'MachineConfig')).toEqual([
      {
        kind: 'MachineConfig',
        isList: true,
        selector: { matchLabels: { 'slipstream.io/created-by': 'slipstream-console' } },
      },
    ]);
    // Then the one ctrcfg that selects the pool, patched — not a second one created.
    expect(ctrcfgCall).toEqual({
      verb: 'patch',
      kind: 'ContainerRuntimeConfig',
      name: 'set-log-level',
      patch: [
        // Refused if anyone changed the ctrcfg since the wizard read it.
        { op: 'test', path: '/metadata/resourceVersion', value: '2790034' },
        {
          op: 'add',
          path: '/spec/containerRuntimeConfig/additionalLayerStores',
          value: [{ path: STORE }],
        },
        { op: 'add', path: STORE_RECORD, value: STORE },
      ],
    });

    // Until the MCO renders the change, the pool's old "Up to date" is not its rollout.
    await page
      .getByTestId('rollout-worker')
      .getByText('Waiting for the Machine Config Operator')
      .waitFor();
    // The MCO picks the change up: the progress step follows the pool live.
    await page.evaluate((pool) => window.slipstreamHost.store.put(pool), workerPoolUpdating);
    await page
      .getByTestId('rollout-worker')
      .getByText('1 of 3 updated, 1 ready, 0 degraded')
      .waitFor();
    await screenshot(page, 'wizard-progress');
    await page.close();
  }, 90_000);

  it('disables symmetrically: deletes only the ctrcfg the wizard created, then its MachineConfig', async () => {
    const page = await openHost(
      browser.context,
      server.url,
      '/lazy-pulling/configure?action=disable&pool=master',
      objects,
    );
    await page.getByRole('button', { name: 'Next' }).click();
    expect(await page.getByTestId('change-yaml-master').textContent()).toBe(
      '# DELETE containerruntimeconfigs.machineconfiguration.openshift.io/slipstream-master',
    );
    expect(await page.getByTestId('machineconfig-yaml-master').textContent()).toBe(
      '# DELETE machineconfigs.machineconfiguration.openshift.io/99-master-slipstream-store',
    );
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByTestId('result-master').getByText('Pool master: Applied').waitFor();
    await page.getByTestId('result-machineconfig-master').getByText('Applied').waitFor();
    expect(await recordedCalls(page)).toEqual([
      {
        verb: 'delete',
        kind: 'ContainerRuntimeConfig',
        name: 'slipstream-master',
        // Refused (409) if the ctrcfg changed since the wizard read it.
        preconditions: {
          uid: masterSlipstreamCtrcfg.metadata?.uid,
          resourceVersion: masterSlipstreamCtrcfg.metadata?.resourceVersion,
        },
      },
      // Only once storage.conf no longer lists the store is its directory's MachineConfig deleted.
      {
        verb: 'delete',
        kind: 'MachineConfig',
        name: '99-master-slipstream-store',
        preconditions: {
          uid: masterStoreMachineConfig.metadata?.uid,
          resourceVersion: masterStoreMachineConfig.metadata?.resourceVersion,
        },
      },
    ]);
    await page.close();
  }, 60_000);

  it('lists no store whose MachineConfig could not be created', async () => {
    const page = await openWorkerReview();
    // Someone else creates a MachineConfig of that name; the page's watch has not delivered it.
    const theirs = {
      apiVersion: 'machineconfiguration.openshift.io/v1',
      kind: 'MachineConfig',
      metadata: { name: '99-worker-slipstream-store', resourceVersion: '2850001' },
      spec: {},
    };
    await page.evaluate((o) => window.slipstreamHost.store.putUnwatched(o), theirs);
    await page.getByRole('button', { name: 'Apply' }).click();
    await page.getByTestId('result-machineconfig-worker').getByText('Failed').waitFor();
    await page.getByTestId('result-worker').getByText('Pool worker: Not sent').waitFor();
    const calls = await recordedCalls(page);
    // The ctrcfg was never patched: storage.conf does not list a store no boot creates.
    expect(calls.filter((c) => c.kind === 'ContainerRuntimeConfig')).toEqual([]);
    expect(
      await page.evaluate(() =>
        window.slipstreamHost.store.get('MachineConfig', '99-worker-slipstream-store'),
      ),
    ).toEqual(theirs);
    await page.close();
  }, 60_000);

  it('changes nothing that someone else changed after the page read it', async () => {
    const page = await openWorkerReview();
    // Someone edits the pool's ctrcfg; the page's watch has not delivered it yet.
    const edited = {
      ...workerLogLevelCtrcfg,
      metadata: { ...workerLogLevelCtrcfg.metadata, resourceVersion: '2799999' },
      spec: {
        ...workerLogLevelCtrcfg.spec,
        containerRuntimeConfig: { logLevel: 'debug', pidsLimit: 4096 },
      },
    };
    await page.evaluate((o) => window.slipstreamHost.store.putUnwatched(o), edited);
    await page.getByRole('button', { name: 'Apply' }).click();
    const result = page.getByTestId('result-worker');
    await result.getByText('Pool worker: Failed').waitFor();
    await result.getByText('It was changed by someone else after this page read it').waitFor();
    // Their edit is still there, untouched: the test op refused the whole patch.
    const stored = await page.evaluate(() =>
      window.slipstreamHost.store.get('ContainerRuntimeConfig', 'set-log-level'),
    );
    expect(stored).toEqual(edited);
    await page.close();
  }, 60_000);

  it('will not apply while the AdditionalStorageConfig gate is off', async () => {
    const withGateOff = objects.map((o) => (o.kind === 'FeatureGate' ? featureGateDefault : o));
    const page = await openWorkerReview(withGateOff);
    await page.getByText('The AdditionalStorageConfig feature gate is not on').waitFor();
    expect(await page.getByRole('button', { name: 'Apply' }).isDisabled()).toBe(true);
    expect(await recordedCalls(page)).toEqual([]);
    await page.close();
  }, 60_000);
});

/** A committed locale file: what the plugin shows in that language. */
const catalog = (lng: string) =>
  JSON.parse(readFileSync(join(REPO, 'locales', lng, 'plugin__slipstream.json'), 'utf8')) as Record<
    string,
    string
  >;

const plain = (s: string | null) => (s ?? '').replace(/[\u00a0\u202f]/g, ' ').trim();

describe('dashboards against the real hub', () => {
  it('per-pod savings: distributions and a sortable, filterable, paginated table', async () => {
    const { body: pods } = await hub.get<PodsPage>('/api/v1/pods?limit=500');
    expect(pods.items.length).toBeGreaterThan(0);
    const page = await openHost(browser.context, server.url, '/lazy-pulling/startup', objects);
    const table = page.getByTestId('pod-savings-table');
    await table.locator('tbody tr').first().waitFor();
    expect(await table.locator('tbody tr').count()).toBe(Math.min(20, pods.items.length));
    const bars = page.getByTestId('startup-histogram').locator('.recharts-bar-rectangle');
    expect(await bars.count()).toBeGreaterThan(0);
    await page
      .getByTestId('startup-percentiles')
      .locator('.recharts-bar-rectangle')
      .first()
      .waitFor();
    await screenshot(page, 'dashboard-pods');

    // Sorting by startup time ascending puts the fastest pod first.
    await table.getByRole('button', { name: 'Startup', exact: true }).click();
    const fastest = Math.min(
      ...pods.items.map((p) => p.startupSeconds).filter((s): s is number => s !== null),
    );
    expect(plain(await table.locator('tbody tr').first().locator('td').nth(4).textContent())).toBe(
      plain(formatDuration(fastest, 'en')),
    );

    // Filtering by one pod's name leaves only that pod.
    const target = pods.items[pods.items.length - 1];
    await page.getByPlaceholder('Filter by pod').fill(target.name);
    await page.waitForFunction(
      (name) =>
        [...document.querySelectorAll('[data-test="pod-savings-table"] tbody tr')].every((tr) =>
          tr.textContent?.includes(name),
        ),
      target.name,
    );
    expect(await table.locator('tbody tr').first().textContent()).toContain(
      `${target.namespace}/${target.name}`,
    );
    await page.close();
  }, 90_000);

  it('per image: timeline, bytes by source, prefetch hit ratio and hot files', async () => {
    const { body: images } = await hub.get<ItemList<ImageStats>>('/api/v1/images');
    expect(images.items.length).toBeGreaterThan(0);
    const page = await openHost(browser.context, server.url, '/lazy-pulling/startup', objects);
    await page.getByRole('tab', { name: 'Images' }).click();
    const select = page.getByTestId('image-select');
    await select.waitFor();
    const options = await select.locator('option').allTextContents();
    expect(options).toEqual(images.items.map((i) => i.image));
    await page.getByTestId('image-timeline').locator('.recharts-bar-rectangle').first().waitFor();
    await page.getByTestId('image-bytes').locator('.recharts-bar-rectangle').first().waitFor();
    const first = images.items[0];
    if (first.prefetchHitRatio !== null) {
      await page
        .getByTestId('image-facts')
        .getByText(formatPercent(first.prefetchHitRatio, 'en'))
        .waitFor();
    }
    const { body: layers } = await hub.get<ItemList<LayerStats>>(
      `/api/v1/images/layers?image=${encodeURIComponent(first.image)}`,
    );
    const hotFiles = layers.items.flatMap((l) => l.hotFiles);
    if (hotFiles.length > 0) {
      const hottest = hotFiles.reduce((a, b) => (b.bytes > a.bytes ? b : a));
      expect(
        await page.getByTestId('hot-files').locator('tbody tr').first().textContent(),
      ).toContain(hottest.path);
    }
    await screenshot(page, 'dashboard-images');
    await page.close();
  }, 90_000);

  it('chunk fetch telemetry over time, by node', async () => {
    const page = await openHost(browser.context, server.url, '/lazy-pulling/startup', objects);
    await page.getByRole('tab', { name: 'Chunk fetches' }).click();
    for (const chart of ['chart-rate', 'chart-bytes']) {
      await page.getByTestId(chart).locator('.recharts-line-curve').first().waitFor();
    }
    await page.getByTestId('chart-latency').locator('.recharts-line-dot').first().waitFor();
    const nodes = await page.getByTestId('ts-node').locator('option').allTextContents();
    expect(nodes).toEqual(['All nodes', ...hub.nodes.map((n) => n.node)]);
    await page.getByTestId('ts-node').selectOption(hub.nodes[0].node);
    await page.getByRole('button', { name: '1 hour' }).click();
    await page.getByTestId('chart-rate').locator('.recharts-line-curve').first().waitFor();
    await screenshot(page, 'dashboard-telemetry');
    await page.close();
  }, 90_000);

  it('the cluster overview card and the Pool / Pod tabs', async () => {
    const { body: summary } = await hub.get<Summary>('/api/v1/summary');
    const { body: pods } = await hub.get<PodsPage>('/api/v1/pods?limit=1&lazy=true');
    const known = pods.items[0];
    // A pod object for a pod the hub recorded, so its Startup tab joins the hub's savings.
    const pod = {
      ...lazyPod,
      metadata: {
        ...lazyPod.metadata,
        uid: known.uid,
        name: known.name,
        namespace: known.namespace,
        creationTimestamp: known.createdAt,
      },
    };
    const page = await openHost(browser.context, server.url, '/dashboards', [...objects, pod]);
    const card = page.getByTestId('summary-metrics');
    await card.waitFor();
    expect(await card.textContent()).toContain(
      `${summary.nodes.healthy} of ${summary.nodes.total}`,
    );
    await screenshot(page, 'cluster-overview-card');

    await page.getByTestId('tab-link-lazy-pulling').click();
    await page.getByText('set-log-level').waitFor();
    await page.getByTestId('lazy-state-off').waitFor();
    await screenshot(page, 'pool-tab');

    await page.goto(`${server.url}/k8s/ns/${known.namespace}/pods/${known.name}/startup`);
    await page.getByTestId('phase-timeline').waitFor();
    await page.getByTestId('pod-savings').waitFor();
    await screenshot(page, 'pod-tab');
    await page.close();
  }, 90_000);
});

describe('languages', () => {
  it('switches language: strings from the locale files, numbers and dates with Intl', async () => {
    const page = await openHost(browser.context, server.url, '/lazy-pulling', objects);
    await page.getByTestId('pools-table').waitFor();
    await page.getByTestId('language').selectOption('ja');
    await page
      .getByRole('heading', { level: 1, name: 'イメージの遅延プル', exact: true })
      .waitFor();
    expect(await page.getByTestId('nav-slipstream-lazy-pulling').textContent()).toBe(
      'イメージの遅延プル',
    );
    expect(await page.getByTestId('rollout-worker').textContent()).toContain(
      '3 中 3 更新済み、3 準備完了、0 機能低下',
    );
    await screenshot(page, 'overview-ja');
    // The wizard's own buttons and steps come from the locale file too, not PatternFly's English.
    const ja = catalog('ja');
    await page.getByTestId('enable-worker').click();
    await page.getByRole('navigation', { name: ja.Steps }).waitFor();
    await page.getByRole('button', { name: ja.Next, exact: true }).click();
    await page.getByRole('button', { name: ja.Back, exact: true }).waitFor();
    await page.getByRole('button', { name: ja.Cancel, exact: true }).click();
    await page.getByTestId('pools-table').waitFor();

    await page.getByTestId('language').selectOption('fr');
    await page.getByTestId('nav-slipstream-startup').click();
    await page
      .getByRole('heading', { level: 1, name: 'Temps de démarrage', exact: true })
      .waitFor();
    const table = page.getByTestId('pod-savings-table');
    await table.locator('tbody tr').first().waitFor();
    // French dates ("22 nov. 2026, 08:20:52") in the Created column.
    expect(await table.locator('tbody tr').first().locator('td').nth(1).textContent()).toMatch(
      /^\d{1,2} [a-zéû]+\.? \d{4}/,
    );
    await screenshot(page, 'dashboard-fr');
    const titles = { 'zh-cn': '启动时间', ko: '시작 시간', es: 'Tiempo de arranque' };
    for (const [lng, title] of Object.entries(titles)) {
      await page.getByTestId('language').selectOption(lng);
      await page.getByRole('heading', { level: 1, name: title, exact: true }).waitFor();
    }
    await page.close();
  }, 90_000);
});

describe('per-pod table headers', () => {
  const LANGUAGES = ['en', 'ja', 'zh-cn', 'ko', 'fr', 'es'];

  it('are never cut off at common widths, in every language, and the page never scrolls sideways', async () => {
    const page = await openHost(browser.context, server.url, '/lazy-pulling/startup', objects);
    const table = page.getByTestId('pod-savings-table');
    await table.locator('tbody tr').first().waitFor();
    for (const lng of LANGUAGES) {
      const header = catalog(lng)['How it was obtained'];
      await page.getByTestId('language').selectOption(lng);
      await table.locator('thead th', { hasText: header }).waitFor();
      for (const width of [1024, 1280, 1920]) {
        await page.setViewportSize({ width, height: 1000 });
        // The charts follow a resize a frame later (ResizeObserver): wait for the page to fit.
        const sideways = await page
          .waitForFunction(() => document.documentElement.scrollWidth <= window.innerWidth, null, {
            timeout: 10_000,
          })
          .then(
            () => false,
            () => true,
          );
        // An element clips when its content is wider than its box and its overflow is not visible.
        const clipped = await page.evaluate(() =>
          [...document.querySelectorAll('[data-test="pod-savings-table"] thead th')]
            .filter((th) =>
              [th, ...th.querySelectorAll('*')].some(
                (el) =>
                  el.scrollWidth > el.clientWidth + 1 &&
                  getComputedStyle(el).overflowX !== 'visible',
              ),
            )
            .map((th) => th.textContent),
        );
        expect({ lng, width, clipped, sideways }).toEqual({
          lng,
          width,
          clipped: [],
          sideways: false,
        });
        if (width === 1280) await table.screenshot({ path: join(RESULTS, `pod-table-${lng}.png`) });
      }
    }
    await page.close();
  }, 120_000);
});

describe('bundle size', () => {
  const BUDGET = 300 * 1024;

  it('plugin entry + first page ≤ 300 KB gzip, console-shared modules excluded', async () => {
    let loaded = new Set<string>();
    const page = await openHost(browser.context, server.url, '/lazy-pulling', objects, {
      beforeLoad: async (p) => {
        const cdp = await p.context().newCDPSession(p);
        await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
        loaded = recordPluginFiles(p);
      },
    });
    await page.getByTestId('pools-table').waitFor();
    const firstPage = sizeOf(loaded);
    const seen = new Set(loaded);
    const more = async (name: string, open: () => Promise<void>) => {
      await open();
      const added = [...loaded].filter((f) => !seen.has(f));
      added.forEach((f) => seen.add(f));
      return { page: name, ...sizeOf(added) };
    };
    const others = [
      await more('dashboards', async () => {
        await page.getByTestId('nav-slipstream-startup').click();
        await page.getByTestId('pod-savings-table').waitFor();
      }),
      await more('wizard', async () => {
        await page.getByTestId('nav-slipstream-lazy-pulling').click();
        await page.getByTestId('enable-worker').click();
        await page.getByTestId('pick-pool-worker').waitFor();
      }),
    ];
    const report = {
      budgetGzipBytes: BUDGET,
      entryAndFirstPageGzipBytes: firstPage.total,
      entryAndFirstPage: firstPage.files,
      laterPages: others,
    };
    await mkdir(RESULTS, { recursive: true });
    await writeFile(join(RESULTS, 'bundle-size.json'), `${JSON.stringify(report, null, 2)}\n`);
    expect(firstPage.files.some((f) => f.file.startsWith('plugin-entry'))).toBe(true);
    expect(firstPage.total).toBeLessThanOrEqual(BUDGET);
    await page.close();
  }, 90_000);
});

describe('dark theme', () => {
  it('charts and pages take their colours from PatternFly tokens', async () => {
    const page = await openHost(browser.context, server.url, '/lazy-pulling/startup', objects);
    // Computed colours: the attributes hold var(--pf-t--…), which the browser resolves.
    const colours = (previous: string) =>
      page.waitForFunction((before) => {
        const bars = [
          ...document.querySelectorAll(
            '[data-test="startup-histogram"] .recharts-bar-rectangle path',
          ),
        ];
        const fill = bars.map((b) => getComputedStyle(b).fill).find((f) => f.startsWith('rgb'));
        const main = document.querySelector('main');
        return fill && fill !== before && main
          ? { fill, background: getComputedStyle(main).backgroundColor }
          : null;
      }, previous);
    const light = await (await colours('')).jsonValue();
    await page.evaluate(() => document.documentElement.classList.add('pf-v6-theme-dark'));
    const dark = await (await colours(light?.fill ?? '')).jsonValue();
    expect(dark?.fill).not.toBe(light?.fill);
    expect(dark?.background).not.toBe(light?.background);
    await screenshot(page, 'dashboard-dark');
    await page.close();
  }, 60_000);
});

describe('keyboard', () => {
  it('reaches the actions and drives the wizard without a mouse', async () => {
    const page = await openHost(browser.context, server.url, '/lazy-pulling', objects);
    await page.getByTestId('enable-worker').waitFor();
    const focused = () => page.evaluate(() => document.activeElement?.getAttribute('data-test'));
    for (let i = 0; i < 80 && (await focused()) !== 'enable-worker'; i += 1) {
      await page.keyboard.press('Tab');
    }
    expect(await focused()).toBe('enable-worker');
    await page.keyboard.press('Enter');
    await page.waitForURL('**/lazy-pulling/configure?action=enable&pool=worker');
    const master = page.getByTestId('pick-pool-master');
    await master.focus();
    await page.keyboard.press('Space');
    expect(await master.isChecked()).toBe(true);
    await page.getByRole('button', { name: 'Next' }).focus();
    await page.keyboard.press('Enter');
    await page.getByTestId('store-path').waitFor();
    await page.close();
  }, 60_000);
});
