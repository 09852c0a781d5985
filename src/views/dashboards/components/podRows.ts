// Filtering and sorting of the per-pod savings table (pure, so the DataView stays thin).
import type { PodStartup } from '../../../utils/types/hub';

export type PodFilters = { name: string; image: string; mode: string[] };

export const SORTABLE = ['name', 'createdAt', 'startupSeconds', 'pullSeconds', 'saved'] as const;
export type SortKey = (typeof SORTABLE)[number];

const sortValue = (pod: PodStartup, key: SortKey): string | number | null => {
  switch (key) {
    case 'name':
      return `${pod.namespace}/${pod.name}`;
    case 'createdAt':
      return pod.createdAt;
    case 'saved':
      return pod.savings.seconds;
    default:
      return pod[key];
  }
};

export const filterPods = (pods: readonly PodStartup[], f: PodFilters): PodStartup[] => {
  const name = f.name.trim().toLowerCase();
  const image = f.image.trim().toLowerCase();
  return pods.filter(
    (p) =>
      (!name || `${p.namespace}/${p.name}`.toLowerCase().includes(name)) &&
      (!image || p.containers.some((c) => c.image.toLowerCase().includes(image))) &&
      (f.mode.length === 0 || f.mode.includes(p.lazy ? 'lazy' : 'normal')),
  );
};

/** Sorts by `key`; pods without a value go last in either direction. */
export const sortPods = (
  pods: readonly PodStartup[],
  key: SortKey | undefined,
  direction: 'asc' | 'desc' | undefined,
): PodStartup[] => {
  if (!key) return [...pods];
  const sign = direction === 'desc' ? -1 : 1;
  return [...pods].sort((a, b) => {
    const va = sortValue(a, key);
    const vb = sortValue(b, key);
    if (va === null || vb === null) return va === vb ? 0 : va === null ? 1 : -1;
    return (va < vb ? -1 : va > vb ? 1 : 0) * sign;
  });
};
