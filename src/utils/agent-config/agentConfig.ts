// The wizard's agent options, read from and written into the agent's agent.yaml (ConfigMap
// slipstream-agent). The document is edited in place so comments and other keys survive.

import { Document, parseDocument } from 'yaml';

export type AgentOptions = {
  prefetchEnabled: boolean;
  prefetchMaxBytes: string;
  backgroundFetchEnabled: boolean;
  backgroundConcurrency: number;
  cacheSize: string;
};

/** The agent's own defaults (contract: agent configuration). */
export const DEFAULT_AGENT_OPTIONS: AgentOptions = {
  prefetchEnabled: true,
  prefetchMaxBytes: '256Mi',
  backgroundFetchEnabled: true,
  backgroundConcurrency: 2,
  cacheSize: '20Gi',
};

const QUANTITY = /^(\d+(\.\d+)?)(Ki|Mi|Gi|Ti)?$/;
const FACTORS: Record<string, number> = {
  '': 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
};

/** "20Gi" → bytes; null when the agent would reject the value. */
export const parseQuantity = (value: string): number | null => {
  const match = QUANTITY.exec(value.trim());
  if (!match) return null;
  return Math.round(Number(match[1]) * FACTORS[match[3] ?? '']);
};

export type AgentOptionsError = 'cache-size' | 'prefetch-max-bytes' | 'concurrency';

export const validateAgentOptions = (o: AgentOptions): AgentOptionsError[] => {
  const errors: AgentOptionsError[] = [];
  if ((parseQuantity(o.cacheSize) ?? 0) <= 0) errors.push('cache-size');
  if (parseQuantity(o.prefetchMaxBytes) === null) errors.push('prefetch-max-bytes');
  if (!Number.isInteger(o.backgroundConcurrency) || o.backgroundConcurrency < 1) {
    errors.push('concurrency');
  }
  return errors;
};

const quantityText = (value: unknown, fallback: string): string =>
  typeof value === 'number' ? String(value) : typeof value === 'string' ? value : fallback;

export const readAgentOptions = (yamlText: string | undefined): AgentOptions => {
  const doc = parseDocument(yamlText ?? '');
  const get = (path: string[]) => doc.getIn(path);
  const d = DEFAULT_AGENT_OPTIONS;
  return {
    prefetchEnabled: (get(['prefetch', 'enabled']) as boolean | undefined) ?? d.prefetchEnabled,
    prefetchMaxBytes: quantityText(get(['prefetch', 'maxBytes']), d.prefetchMaxBytes),
    backgroundFetchEnabled:
      (get(['backgroundFetch', 'enabled']) as boolean | undefined) ?? d.backgroundFetchEnabled,
    backgroundConcurrency:
      (get(['backgroundFetch', 'concurrency']) as number | undefined) ?? d.backgroundConcurrency,
    cacheSize: quantityText(get(['cacheSize']), d.cacheSize),
  };
};

/** Returns agent.yaml with the wizard's options set; everything else is left as it was. */
export const writeAgentOptions = (yamlText: string | undefined, o: AgentOptions): string => {
  const doc = yamlText?.trim() ? parseDocument(yamlText) : new Document({});
  if (doc.errors.length > 0) throw new Error(doc.errors[0].message);
  doc.setIn(['cacheSize'], o.cacheSize);
  doc.setIn(['prefetch', 'enabled'], o.prefetchEnabled);
  doc.setIn(['prefetch', 'maxBytes'], o.prefetchMaxBytes);
  doc.setIn(['backgroundFetch', 'enabled'], o.backgroundFetchEnabled);
  doc.setIn(['backgroundFetch', 'concurrency'], o.backgroundConcurrency);
  return doc.toString();
};
