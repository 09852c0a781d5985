import { useEffect, useState } from 'react';

import { fetchHub } from '../../../utils/hub/hubClient';
import type { PodStartup, PodsPage } from '../../../utils/types/hub';

export const MAX_PODS = 2000;
const PAGE = 500;

export type AllPods = {
  pods: PodStartup[];
  total: number;
  loaded: boolean;
  error: Error | undefined;
};

/** Follows the hub's cursor to load the time range's pods (up to MAX_PODS) for client-side views. */
export const useAllPods = (since: string, reloadKey: number): AllPods => {
  const [state, setState] = useState<AllPods & { key: string }>({
    key: '',
    pods: [],
    total: 0,
    loaded: false,
    error: undefined,
  });
  const key = `${since}#${reloadKey}`;
  useEffect(() => {
    let current = true;
    const load = async () => {
      const pods: PodStartup[] = [];
      let cursor: string | null = null;
      let total = 0;
      do {
        const page: PodsPage = await fetchHub<PodsPage>('pods', { since, limit: PAGE, cursor });
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
  return state.key === key ? state : { pods: [], total: 0, loaded: false, error: undefined };
};
