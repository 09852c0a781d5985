// Renders charts/slipstream with the offline renderer in charts/tools/render (Go text/template
// + sprig + Helm's own functions), built once per test file from Debian's Go packages.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import { parseAllDocuments, stringify } from 'yaml';

import { makeTempDir, removeDir } from '../support/tmp.ts';

const run = promisify(execFile);

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const chartDir = join(repoRoot, 'charts/slipstream');
const buildScript = join(repoRoot, 'charts/tools/render/build.sh');

/** A rendered Kubernetes object: only apiVersion, kind and metadata are known to exist. */
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [field: string]: unknown;
}

export interface Rendered {
  /** Every object of every manifest, in template order. */
  objects: K8sObject[];
  /** The rendered NOTES.txt. */
  notes: string;
  /** The values the templates saw (chart defaults coalesced with the given values). */
  values: Record<string, unknown>;
}

export interface RenderOptions {
  namespace?: string;
  releaseName?: string;
  isUpgrade?: boolean;
  /** The cluster's Kubernetes version (.Capabilities.KubeVersion, checked against kubeVersion). */
  kubeVersion?: string;
}

interface RendererOutput {
  manifests: { source: string; content: string }[];
  notes: string;
  values: Record<string, unknown>;
}

/** Thrown when rendering fails the way `helm template` would fail (message from the engine). */
export class RenderError extends Error {
  override readonly name = 'RenderError';
}

export interface Renderer {
  render(values?: Record<string, unknown>, options?: RenderOptions): Promise<Rendered>;
  cleanup(): Promise<void>;
}

export async function createRenderer(): Promise<Renderer> {
  const dir = await makeTempDir('chart-render');
  const binary = join(dir, 'render');
  try {
    await run('sh', [buildScript, binary], {
      env: { ...process.env, GOCACHE: join(dir, 'gocache') },
    });
  } catch (e) {
    await removeDir(dir);
    throw e;
  }
  let counter = 0;
  return {
    async render(values = {}, options = {}) {
      const valuesFile = join(dir, `values-${counter++}.yaml`);
      await writeFile(valuesFile, stringify(values));
      const args = ['--chart', chartDir, '--values', valuesFile];
      args.push('--namespace', options.namespace ?? 'slipstream');
      args.push('--name', options.releaseName ?? 'slipstream');
      if (options.isUpgrade) args.push('--is-upgrade');
      if (options.kubeVersion) args.push('--kube-version', options.kubeVersion);
      let stdout: string;
      try {
        ({ stdout } = await run(binary, args, { maxBuffer: 64 * 1024 * 1024 }));
      } catch (e) {
        const stderr = (e as { stderr?: string }).stderr ?? String(e);
        throw new RenderError(stderr.trim());
      }
      const output = JSON.parse(stdout) as RendererOutput;
      return {
        objects: output.manifests.flatMap((m) => parseManifest(m.source, m.content)),
        notes: output.notes,
        values: output.values,
      };
    },
    cleanup: () => removeDir(dir),
  };
}

function parseManifest(source: string, content: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const document of parseAllDocuments(content)) {
    if (document.errors.length > 0) {
      throw new Error(`${source} is not valid YAML: ${document.errors[0]?.message}\n${content}`);
    }
    // Kubernetes reads manifests as YAML 1.1-compatible JSON; our charts avoid the differences.
    const object: unknown = document.toJS();
    if (object === null || object === undefined) continue;
    objects.push(object as K8sObject);
  }
  return objects;
}

/** The one object of a kind and name; fails the test when absent. */
export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name === name);
  if (!found) {
    const have = objects.map((o) => `${o.kind}/${o.metadata.name}`).join(', ');
    throw new Error(`no ${kind}/${name} rendered; have: ${have}`);
  }
  return found;
}
