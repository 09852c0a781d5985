import { useCallback, useEffect, useState } from 'react';

import { fetchHub } from '../../../utils/hub/hubClient';
import type { PodStartup, PodsPage } from '../../../utils/types/hub';

export const MAX_PODS = 2000;
const PAGE = 500;

type Loaded = {
  pods: PodStartup[];
  total: number;
  loaded: boolean;
  error: Error | undefined;
};

export type AllPods = Loaded & { refresh: () => void };

/** Follows the hub's cursor to load the time range's pods (up to MAX_PODS) for client-side views. */
export const useAllPods = (since: string, reloadKey: number): AllPods => {
  const [tick, setTick] = useState(0);
  const refresh = useCallback(() => setTick((n) => n + 1), []);
  const [state, setState] = useState<Loaded & { key: string }>({
    key: '',
    pods: [],
    total: 0,
    loaded: false,
    error: undefined,
  });
  const key = `${since}#${reloadKey}#${tick}`;
  useEffect(() => {
    let current = true;
    const load = async () => {
      const pods: PodStartup[] = [];
      let cursor: string | null = null;
      let total = 0;
      do {
        const page: PodsPage = await fetchHub('pods', { since, limit: PAGE, cursor });
        pods.push(...page.items);
        total = page.total;
        cursor = page.nextCursor;
      } while (cursor && pods.length < MAX_PODS);
      return { pods, total };
    };
    load().then(
      ({ pods, total }) =>
        current && setState({ key, pods, total, loaded: true, error: undefined }),
      (e: unknown) =>
        current &&
        setState({
          key,
          pods: [],
          total: 0,
          loaded: true,
          error: e instanceof Error ? e : new Error(String(e)),
        }),
    );
    return () => {
      current = false;
    };
  }, [since, key]);
  return state.key === key
    ? { ...state, refresh }
    : { pods: [], total: 0, loaded: false, error: undefined, refresh };
};
