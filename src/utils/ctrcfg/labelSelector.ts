import type { LabelSelector } from '../types/k8s';

const isEmpty = (selector: LabelSelector): boolean =>
  Object.keys(selector.matchLabels ?? {}).length === 0 &&
  (selector.matchExpressions ?? []).length === 0;

/**
 * Label-selector semantics as the Machine Config Operator applies them (matchLabels AND
 * matchExpressions). Unlike plain Kubernetes, where an empty selector matches everything, the MCO
 * skips a missing or empty selector: "if a pool with a nil or empty selector creeps in, it should
 * match nothing, not everything" (container-runtime-config and node controllers, selector.Empty()).
 * A selector the API would reject (unknown operator, In/NotIn without values) matches nothing too,
 * as LabelSelectorAsSelector fails on it.
 */
export const selectorMatches = (
  selector: LabelSelector | undefined,
  labels: Record<string, string> | undefined = {},
): boolean => {
  if (!selector || isEmpty(selector)) return false;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every(
    ({ key, operator, values = [] }) => {
      const has = Object.prototype.hasOwnProperty.call(labels, key);
      switch (operator) {
        case 'In':
          return values.length > 0 && has && values.includes(labels[key]);
        case 'NotIn':
          return values.length > 0 && (!has || !values.includes(labels[key]));
        case 'Exists':
          return has;
        case 'DoesNotExist':
          return !has;
        default:
          return false;
      }
    },
  );
  return byLabels && byExpressions;
};
