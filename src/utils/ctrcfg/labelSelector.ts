import type { LabelSelector } from '../types/k8s';

/** Kubernetes label-selector semantics (matchLabels AND matchExpressions); an empty selector matches all. */
export const selectorMatches = (
  selector: LabelSelector | undefined,
  labels: Record<string, string> | undefined = {},
): boolean => {
  if (!selector) return false;
  const byLabels = Object.entries(selector.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
  const byExpressions = (selector.matchExpressions ?? []).every(
    ({ key, operator, values = [] }) => {
      const has = Object.prototype.hasOwnProperty.call(labels, key);
      switch (operator) {
        case 'In':
          return has && values.includes(labels[key]);
        case 'NotIn':
          return !has || !values.includes(labels[key]);
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
