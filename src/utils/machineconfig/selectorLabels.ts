// The labels an object needs for a MachineConfigPool's machineConfigSelector to pick it. The MCO
// renders a pool from every MachineConfig its selector matches, so a MachineConfig meant for one
// pool carries labels derived from that pool's selector.

import { selectorMatches } from '../ctrcfg/labelSelector';
import type { LabelSelector } from '../types/k8s';

type Requirement = NonNullable<LabelSelector['matchExpressions']>[number];

/** A value for an `In` requirement: the pool's own name when listed (role In [worker, infra] for
 * the pool infra), else the first value; one that another requirement on the key allows. */
const inValue = (
  { key, values = [] }: Requirement,
  expressions: readonly Requirement[],
  poolName: string,
): string | undefined => {
  const allowed = (value: string) =>
    expressions
      .filter((e) => e.key === key)
      .every((e) =>
        e.operator === 'In'
          ? (e.values ?? []).includes(value)
          : e.operator === 'NotIn'
            ? !(e.values ?? []).includes(value)
            : e.operator !== 'DoesNotExist',
      );
  const candidates = values.includes(poolName) ? [poolName, ...values] : values;
  return candidates.find(allowed);
};

/**
 * Labels that satisfy `selector`: its matchLabels, a value for each `In` expression, `""` for each
 * `Exists`. NotIn and DoesNotExist add nothing. Undefined when no labels can satisfy it: an empty
 * or missing selector (the MCO matches nothing with it), only NotIn / DoesNotExist requirements,
 * or requirements that contradict each other.
 */
export const labelsForSelector = (
  selector: LabelSelector | undefined,
  poolName: string,
): Record<string, string> | undefined => {
  if (!selector) return undefined;
  const labels: Record<string, string> = { ...(selector.matchLabels ?? {}) };
  const expressions = selector.matchExpressions ?? [];
  // `In` before `Exists`: an `Exists` on a key that an `In` constrains takes the `In`'s value.
  for (const expression of expressions.filter((e) => e.operator === 'In')) {
    if (expression.key in labels) continue;
    const value = inValue(expression, expressions, poolName);
    if (value !== undefined) labels[expression.key] = value;
  }
  for (const { key } of expressions.filter((e) => e.operator === 'Exists')) {
    if (!(key in labels)) labels[key] = '';
  }
  // A selector of only NotIn / DoesNotExist would pick an unlabelled MachineConfig, and with it
  // every pool whose selector does the same: the MachineConfig must name the pool positively.
  if (Object.keys(labels).length === 0) return undefined;
  // Whatever was derived must really match, as the MCO would evaluate it.
  return selectorMatches(selector, labels) ? labels : undefined;
};
