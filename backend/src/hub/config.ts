// `slipstream hub --config hub.yaml`: the hub's configuration (contract in helper-briefs/contracts.md),
// validated with zod; unknown keys are rejected with an error that names them.
import { readFile } from 'node:fs/promises';

import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

export class HubConfigError extends Error {
  override readonly name = 'HubConfigError';
}

const absolutePath = z.string().startsWith('/', 'must be an absolute path');

export const HubConfigSchema = z
  .strictObject({
    listen: z
      .string()
      .regex(
        /^(\[[0-9a-fA-F:]+\]|[^:\s]*):\d{1,5}$/,
        'expected host:port, e.g. 0.0.0.0:8443, or :8443 for every address',
      )
      .default(':8443'),
    tls: z.strictObject({ certFile: absolutePath, keyFile: absolutePath }).optional(),
    insecureHttp: z.boolean().default(false),
    dbPath: absolutePath.default('/var/lib/slipstream-hub/hub.db'),
    retentionDays: z.number().int().min(1).max(3650).default(30),
    namespace: z.string().min(1).max(63).optional(),
    kubeconfig: absolutePath.optional(),
    agentConfigMap: z.string().min(1).max(253).default('slipstream-agent'),
    logLevel: z
      .enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'])
      .default('info'),
  })
  .refine((c) => c.tls !== undefined || c.insecureHttp, {
    message: 'tls {certFile, keyFile} is required (plain HTTP only with insecureHttp: true)',
    path: ['tls'],
  });

export type HubConfigInput = z.input<typeof HubConfigSchema>;
export type HubConfig = z.output<typeof HubConfigSchema> & { namespace: string };

/** Validates a config object (file content merged with overrides); namespace falls back to POD_NAMESPACE. */
export function resolveHubConfig(input: unknown, env: NodeJS.ProcessEnv = process.env): HubConfig {
  const parsed = HubConfigSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => {
      const where = i.path.length ? i.path.join('.') : '(top level)';
      return `${where}: ${i.message}`;
    });
    throw new HubConfigError(`invalid hub configuration: ${issues.join('; ')}`);
  }
  const namespace = parsed.data.namespace ?? env.POD_NAMESPACE;
  if (!namespace)
    throw new HubConfigError('invalid hub configuration: namespace: set it or POD_NAMESPACE');
  return { ...parsed.data, namespace };
}

/** Reads and validates the YAML file; `overrides` (from flags) win over the file. */
export async function loadHubConfig(
  path: string | undefined,
  overrides: Record<string, unknown> = {},
  env: NodeJS.ProcessEnv = process.env,
): Promise<HubConfig> {
  let fromFile: unknown = {};
  if (path) {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      throw new HubConfigError(
        `cannot read hub configuration ${path}: ${(error as Error).message}`,
      );
    }
    try {
      fromFile = parseYaml(text) ?? {};
    } catch (error) {
      throw new HubConfigError(
        `hub configuration ${path} is not valid YAML: ${(error as Error).message}`,
      );
    }
    if (typeof fromFile !== 'object' || Array.isArray(fromFile)) {
      throw new HubConfigError(`hub configuration ${path} must be a YAML mapping`);
    }
  }
  const defined = Object.fromEntries(Object.entries(overrides).filter(([, v]) => v !== undefined));
  return resolveHubConfig({ ...(fromFile as object), ...defined }, env);
}
