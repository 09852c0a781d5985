// The agent's configuration: a YAML file (contract in helper-briefs/contracts.md) validated with zod,
// with defaults, `${ENV}` expansion in strings, and command-line overrides applied on top.
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';

import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';

/** Thrown for any unreadable, malformed or invalid configuration; the message names the field. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12,
  ki: 2 ** 10,
  mi: 2 ** 20,
  gi: 2 ** 30,
  ti: 2 ** 40,
};

/** Parses `20Gi`, `256Mi`, `1.5G`, `1048576` into bytes; undefined when not a size. */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number')
    return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]i?)?b?\s*$/i.exec(value);
  if (!m) return undefined;
  const factor = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  if (factor === undefined) return undefined;
  const bytes = Math.floor(Number(m[1]) * factor);
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

const byteSize = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const bytes = parseByteSize(v);
  if (bytes === undefined) {
    ctx.addIssue({
      code: 'custom',
      message: `not a byte size: ${String(v)} (use e.g. 20Gi, 512Mi)`,
    });
    return z.NEVER;
  }
  return bytes;
});

const hostPort = z
  .string()
  .regex(
    /^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/,
    'expected host:port, e.g. 0.0.0.0:9464, or :9464 for every address',
  );

const absolutePath = z.string().startsWith('/', 'must be an absolute path');

const agentConfigSchema = z.strictObject({
  mountpoint: absolutePath.default('/var/lib/slipstream/store'),
  stateDir: absolutePath.default('/var/lib/slipstream'),
  cacheSize: byteSize.default(20 * 2 ** 30),
  // Share of the cache's file system kept free: the cache shrinks below cacheSize as the disk
  // fills. 20 %: OpenShift's kubelet evicts pods below 15 % free on imagefs and collects images
  // above 85 % used, down to 80 % (on RHCOS the cache, images and nodefs share one file system),
  // so a cache that stops at 20 % free never starts either by itself.
  cacheMinFreePercent: z.number().min(0).max(90).default(20),
  lookupTimeoutSeconds: z.number().positive().max(600).default(10),
  // TOC entries the open layers' indexes may hold together (~150–250 bytes each: 4M ≈ 0.6–1 GB,
  // within the chart's 2 GiB memory limit); a layer past it is pulled normally
  // (store/index-budget.ts).
  maxIndexEntries: z.number().int().positive().default(4_000_000),
  // On SIGTERM, containers still reading from the store (an overlay keeps the unmounted FUSE
  // connection alive) are served this much longer before their reads fail.
  shutdownGraceSeconds: z.number().min(0).max(3600).default(10),
  prefetch: z
    .strictObject({
      enabled: z.boolean().default(true),
      maxBytes: byteSize.default(256 * 2 ** 20),
      // After this long a layer's prefetch starts no more requests.
      maxSeconds: z.number().positive().max(3600).default(60),
    })
    .prefault({}),
  backgroundFetch: z
    .strictObject({
      enabled: z.boolean().default(true),
      // Since reads served from the cache count too, 1 s costs a start nothing measurable and
      // brings the whole image 3–4 s sooner (docs/benchmark-history.md, session 11).
      quietPeriodSeconds: z.number().min(0).default(1),
      // Longest pause on-demand reads impose; then one request runs beside them (fetch/scheduler.ts).
      maxPauseSeconds: z.number().min(0).default(30),
      concurrency: z.number().int().min(1).max(64).default(4),
    })
    .prefault({}),
  // Run the lookup path on a synthetic layer at start (store/warm-up.ts, ~0.4 s of CPU) so that
  // the first pull on a new node does not parse its TOCs in V8's interpreter.
  warmUp: z.boolean().default(true),
  registriesConf: absolutePath.default('/etc/containers/registries.conf'),
  // Per-registry CAs and client certificates (`<dir>/<host:port>/*.crt`, `client.cert/.key`).
  certsDirs: z.array(absolutePath).default(['/etc/containers/certs.d', '/etc/docker/certs.d']),
  authFiles: z
    .array(absolutePath)
    .default(['/var/lib/kubelet/config.json', '/run/containers/0/auth.json']),
  metricsAddress: hostPort.or(z.literal('')).default(':9464'),
  hub: z
    .strictObject({
      url: z.url().optional(),
      tokenFile: absolutePath.default('/var/run/secrets/kubernetes.io/serviceaccount/token'),
      caFile: absolutePath.optional(),
      reportIntervalSeconds: z.number().positive().default(10),
    })
    .prefault({}),
  nodeName: z.string().min(1).optional(),
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
});

export type AgentConfig = Omit<z.output<typeof agentConfigSchema>, 'nodeName'> & {
  nodeName: string;
};

/** Command-line overrides (commander option names); undefined means "not given". */
export interface AgentFlags {
  mountpoint?: string;
  stateDir?: string;
  cacheSize?: string;
  lookupTimeout?: string;
  prefetch?: boolean;
  backgroundFetch?: boolean;
  registriesConf?: string;
  authFile?: string[];
  metricsAddress?: string;
  logLevel?: string;
}

/** Replaces `${NAME}` in every string with the environment variable; unset variables become ''. */
function expandEnv(value: unknown, env: NodeJS.ProcessEnv): unknown {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => env[name] ?? '');
  }
  if (Array.isArray(value)) return value.map((v) => expandEnv(v, env));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandEnv(v, env)]));
  }
  return value;
}

function describeIssues(error: z.ZodError, source: string): string {
  const lines = error.issues.map((issue) => {
    const field = issue.path.length ? issue.path.join('.') : '(root)';
    if (issue.code === 'unrecognized_keys') {
      const prefix = issue.path.length ? `${field}.` : '';
      return `unknown field ${issue.keys.map((k) => prefix + k).join(', ')}`;
    }
    return `${field}: ${issue.message}`;
  });
  return `invalid agent configuration in ${source}:\n  ${lines.join('\n  ')}`;
}

function applyFlags(raw: Record<string, unknown>, flags: AgentFlags): Record<string, unknown> {
  const out: Record<string, unknown> = { ...raw };
  const section = (key: string): Record<string, unknown> => {
    const current = out[key];
    const copy = current && typeof current === 'object' ? { ...current } : {};
    out[key] = copy;
    return copy;
  };
  if (flags.mountpoint !== undefined) out.mountpoint = flags.mountpoint;
  if (flags.stateDir !== undefined) out.stateDir = flags.stateDir;
  if (flags.cacheSize !== undefined) out.cacheSize = flags.cacheSize;
  if (flags.lookupTimeout !== undefined) out.lookupTimeoutSeconds = Number(flags.lookupTimeout);
  if (flags.prefetch === false) section('prefetch').enabled = false;
  if (flags.backgroundFetch === false) section('backgroundFetch').enabled = false;
  if (flags.registriesConf !== undefined) out.registriesConf = flags.registriesConf;
  if (flags.authFile !== undefined && flags.authFile.length > 0) out.authFiles = flags.authFile;
  if (flags.metricsAddress !== undefined) out.metricsAddress = flags.metricsAddress;
  if (flags.logLevel !== undefined) out.logLevel = flags.logLevel;
  return out;
}

/** Validates an already-parsed document (plus flags) into a complete configuration. */
export function resolveAgentConfig(
  document: unknown,
  flags: AgentFlags = {},
  env: NodeJS.ProcessEnv = process.env,
  source = 'configuration',
): AgentConfig {
  if (document !== null && document !== undefined && typeof document !== 'object') {
    throw new ConfigError(`invalid agent configuration in ${source}: expected a YAML mapping`);
  }
  if (Array.isArray(document)) {
    throw new ConfigError(`invalid agent configuration in ${source}: expected a YAML mapping`);
  }
  const expanded = expandEnv(document ?? {}, env) as Record<string, unknown>;
  if (expanded.nodeName === '') delete expanded.nodeName;
  const result = agentConfigSchema.safeParse(applyFlags(expanded, flags));
  if (!result.success) throw new ConfigError(describeIssues(result.error, source));
  return { ...result.data, nodeName: result.data.nodeName ?? env.NODE_NAME ?? hostname() };
}

/** Reads and validates the YAML file at `path` (absent path → defaults), then applies flags. */
export async function loadAgentConfig(
  path: string | undefined,
  flags: AgentFlags = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<AgentConfig> {
  if (!path) return resolveAgentConfig({}, flags, env, 'defaults');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read agent configuration ${path}: ${(e as Error).message}`);
  }
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (e) {
    const why = e instanceof YAMLParseError ? e.message : String(e);
    throw new ConfigError(`agent configuration ${path} is not valid YAML: ${why}`);
  }
  return resolveAgentConfig(document, flags, env, path);
}
