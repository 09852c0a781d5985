// The plugin's dashboards on the demo's hub: the BUILT plugin (dist/) in the host page the browser
// tests use (integration-tests/host: the console's plugin loader and an SDK host shim), served on
// 127.0.0.1 with the console proxy to the hub, photographed by headless Debian chromium.
//
// The integration-test modules are written for the plugin's bundler (relative imports without an
// extension); a resolve hook lets Node load them as they are instead of keeping a second copy.
import { mkdir, rm, mkdtemp } from 'node:fs/promises';
import { registerHooks } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let hooked = false;

function resolveExtensionless(): void {
  if (hooked) return;
  hooked = true;
  registerHooks({
    resolve(specifier, context, next) {
      try {
        return next(specifier, context);
      } catch (error) {
        if (!/^\.\.?\//.test(specifier) || /\.[cm]?[jt]sx?$/.test(specifier)) throw error;
        for (const ext of ['.ts', '.tsx', '/index.ts']) {
          try {
            return next(specifier + ext, context);
          } catch {
            // try the next extension
          }
        }
        throw error;
      }
    },
  });
}

// Loosely typed views of the integration-test modules (the plugin's tsconfig checks them).
interface HubTarget {
  url: string;
  ca: string | null;
  token: string;
}
interface Locator {
  waitFor(): Promise<void>;
  first(): Locator;
  locator(selector: string): Locator;
  click(): Promise<void>;
}
interface Page {
  getByTestId(id: string): Locator;
  getByRole(role: string, opts: { name: string }): Locator;
  screenshot(opts: { path: string; fullPage: boolean }): Promise<unknown>;
  waitForTimeout(ms: number): Promise<void>;
  close(): Promise<void>;
}
interface HostModules {
  ensurePluginBuilt(): void;
  buildHost(outDir: string): Promise<void>;
  startHostServer(dir: string, hub: HubTarget): Promise<{ url: string; close(): Promise<void> }>;
  launchChromium(): Promise<{ context: unknown; close(): Promise<void> }>;
  openHost(context: unknown, baseUrl: string, path: string, seed: unknown[]): Promise<Page>;
  cluster(workers: string[]): unknown[];
}

async function loadHostModules(): Promise<HostModules> {
  resolveExtensionless();
  const at = (file: string) => new URL(`../../integration-tests/support/${file}`, import.meta.url);
  const modules = (await Promise.all([
    import(at('pluginBuild.ts').href),
    import(at('hostBuild.ts').href),
    import(at('hostServer.ts').href),
    import(at('browser.ts').href),
    import(at('hostPage.ts').href),
    import(at('clusterFixtures.ts').href),
  ])) as Record<string, unknown>[];
  return Object.assign({}, ...modules) as HostModules;
}

export interface Dashboards {
  url: string;
  screenshots: string[];
  stop(): Promise<void>;
}

/** One dashboard view: where it is, which tab or time range to pick, what to wait for. */
interface View {
  name: string;
  path: string;
  tab?: string;
  range?: string;
  ready: string;
}

/** The hub-driven views: startup savings (pods, images, chunk fetches), the cluster card, a pod. */
const views = (pod: { namespace: string; name: string }): View[] => [
  { name: 'startup-pods', path: '/lazy-pulling/startup', ready: 'pod-savings-table' },
  { name: 'startup-images', path: '/lazy-pulling/startup', tab: 'Images', ready: 'image-bytes' },
  {
    name: 'startup-chunk-fetches',
    path: '/lazy-pulling/startup',
    tab: 'Chunk fetches',
    // The demo's fetches happened in the last minutes: the default 24 hours squeezes them flat.
    range: '1 hour',
    ready: 'chart-bytes',
  },
  { name: 'cluster-overview', path: '/dashboards', ready: 'summary-metrics' },
  {
    name: 'pod-startup',
    path: `/k8s/ns/${pod.namespace}/pods/${pod.name}/startup`,
    ready: 'pod-savings',
  },
];

export interface HostPage {
  modules: HostModules;
  hostDir: string;
  remove(): Promise<void>;
}

/**
 * Builds the plugin (when dist/ is older than its sources) and the host page's script. Done
 * before the demo's services start: both builds are CPU-bound and the plugin build blocks this
 * process, which also serves the hub.
 */
export async function prepareHostPage(): Promise<HostPage> {
  const modules = await loadHostModules();
  modules.ensurePluginBuilt();
  const hostDir = await mkdtemp(join(tmpdir(), 'slipstream-demo-host-'));
  const remove = () => rm(hostDir, { recursive: true, force: true });
  try {
    await modules.buildHost(hostDir);
  } catch (error) {
    await remove();
    throw error;
  }
  return { modules, hostDir, remove };
}

/** Serves the plugin against `hub` and writes one PNG per view into `outDir`. `pods` are the
 *  Pod objects of the stand-in API (the host page's SDK shim serves them to the plugin). */
export async function showDashboards(
  host: HostPage,
  hub: HubTarget,
  cluster: { nodes: string[]; pods: unknown[]; pod: { namespace: string; name: string } },
  outDir: string,
): Promise<Dashboards> {
  const m = host.modules;
  const hostDir = host.hostDir;
  const cleanups: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (let fn = cleanups.pop(); fn; fn = cleanups.pop()) await fn().catch(() => undefined);
  };
  try {
    const server = await m.startHostServer(hostDir, hub);
    cleanups.push(() => server.close());
    const browser = await m.launchChromium();
    cleanups.push(() => browser.close());
    await mkdir(outDir, { recursive: true });
    const seed = [...m.cluster(cluster.nodes), ...cluster.pods];
    const screenshots: string[] = [];
    for (const view of views(cluster.pod)) {
      const page = await m.openHost(browser.context, server.url, view.path, seed);
      if (view.tab) await page.getByRole('tab', { name: view.tab }).click();
      if (view.range) await page.getByRole('button', { name: view.range }).click();
      await page.getByTestId(view.ready).waitFor();
      // Charts animate in; photograph them once drawn.
      await page.waitForTimeout(1500);
      const file = join(outDir, `${view.name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      await page.close();
      screenshots.push(file);
    }
    // The browser is only for the photos; the host page stays up for a person (KEEP mode).
    cleanups.pop();
    await browser.close();
    return { url: `${server.url}/lazy-pulling/startup`, screenshots, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
