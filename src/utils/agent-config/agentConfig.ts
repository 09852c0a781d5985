// The wizard's agent options, read from and written into the agent's agent.yaml (ConfigMap
// slipstream-agent). The document is edited in place so comments and other keys survive.

import { Document, isMap, parseDocument } from 'yaml';

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

/** The agent's bounds for backgroundFetch.concurrency (contract: agent configuration). */
export const MIN_CONCURRENCY = 1;
export const MAX_CONCURRENCY = 64;

export const validateAgentOptions = (o: AgentOptions): AgentOptionsError[] => {
  const errors: AgentOptionsError[] = [];
  if ((parseQuantity(o.cacheSize) ?? 0) <= 0) errors.push('cache-size');
  if (parseQuantity(o.prefetchMaxBytes) === null) errors.push('prefetch-max-bytes');
  if (
    !Number.isInteger(o.backgroundConcurrency) ||
    o.backgroundConcurrency < MIN_CONCURRENCY ||
    o.backgroundConcurrency > MAX_CONCURRENCY
  ) {
    errors.push('concurrency');
  }
  return errors;
};

const quantityText = (value: unknown, fallback: string): string =>
  typeof value === 'number' ? String(value) : typeof value === 'string' ? value : fallback;

const booleanOr = (value: unknown, fallback: boolean): boolean =>
  typeof value === 'boolean' ? value : fallback;

const numberOr = (value: unknown, fallback: number): number =>
  typeof value === 'number' ? value : fallback;

/** Problems that make agent.yaml unsafe to rewrite: a YAML error, or a document that is no mapping. */
const documentProblem = (doc: Document): string | undefined => {
  if (doc.errors.length > 0) return doc.errors[0].message;
  if (doc.contents !== null && !isMap(doc.contents)) return 'agent.yaml is not a mapping of keys';
  return undefined;
};

const optionsOf = (doc: Document): AgentOptions => {
  const get = (path: string[]): unknown => doc.getIn(path);
  const d = DEFAULT_AGENT_OPTIONS;
  return {
    prefetchEnabled: booleanOr(get(['prefetch', 'enabled']), d.prefetchEnabled),
    prefetchMaxBytes: quantityText(get(['prefetch', 'maxBytes']), d.prefetchMaxBytes),
    backgroundFetchEnabled: booleanOr(
      get(['backgroundFetch', 'enabled']),
      d.backgroundFetchEnabled,
    ),
    backgroundConcurrency: numberOr(
      get(['backgroundFetch', 'concurrency']),
      d.backgroundConcurrency,
    ),
    cacheSize: quantityText(get(['cacheSize']), d.cacheSize),
  };
};

/**
 * The wizard's options from agent.yaml, or the agent's defaults with the reason the document
 * cannot be read (then the wizard shows it and must not rewrite the document). Never throws.
 */
export const parseAgentConfig = (
  yamlText: string | undefined,
): { options: AgentOptions; error?: string } => {
  if (!yamlText?.trim()) return { options: DEFAULT_AGENT_OPTIONS };
  const doc = parseDocument(yamlText);
  const error = documentProblem(doc);
  if (error !== undefined) return { options: DEFAULT_AGENT_OPTIONS, error };
  return { options: optionsOf(doc) };
};

export const readAgentOptions = (yamlText: string | undefined): AgentOptions =>
  parseAgentConfig(yamlText).options;

/**
 * Returns agent.yaml with the wizard's options set; everything else is left as it was. Throws on a
 * document it cannot rewrite safely (check parseAgentConfig first).
 */
export const writeAgentOptions = (yamlText: string | undefined, o: AgentOptions): string => {
  const doc = yamlText?.trim() ? parseDocument(yamlText) : new Document({});
  const problem = documentProblem(doc);
  if (problem !== undefined) throw new Error(problem);
  doc.setIn(['cacheSize'], o.cacheSize);
  doc.setIn(['prefetch', 'enabled'], o.prefetchEnabled);
  doc.setIn(['prefetch', 'maxBytes'], o.prefetchMaxBytes);
  doc.setIn(['backgroundFetch', 'enabled'], o.backgroundFetchEnabled);
  doc.setIn(['backgroundFetch', 'concurrency'], o.backgroundConcurrency);
  return doc.toString();
};
