import { useCallback, useEffect, useState } from 'react';

import { fetchHub } from '../../../utils/hub/hubClient';
import type { PodStartup, PodsPage } from '../../../utils/types/hub';
import type { Pod } from '../../../utils/types/k8s';

const PAGE = 500;
/** Pages followed at most: 10 000 pods of one namespace created within the same second. */
const MAX_PAGES = 20;

const oneSecondLater = (iso: string) => new Date(Date.parse(iso) + 1000).toISOString();

export type PodRecord = {
  record: PodStartup | undefined;
  loaded: boolean;
  error: Error | undefined;
  refresh: () => void;
};

/**
 * The hub's startup record of one pod. The hub lists by namespace and creation window, so this
 * follows the cursor through every pod created in the pod's second until the uid turns up (a Job
 * or a scale-up can create hundreds in the same second).
 */
export const usePodRecord = (pod: Pod): PodRecord => {
  const uid = pod.metadata?.uid;
  const namespace = pod.metadata?.namespace;
  const created = pod.metadata?.creationTimestamp;
  const [tick, setTick] = useState(0);
  const refresh = useCallback(() => setTick((n) => n + 1), []);
  const key = `${uid ?? ''}#${namespace ?? ''}#${created ?? ''}#${tick}`;
  const [state, setState] = useState<{ key: string; record?: PodStartup; error?: Error }>({
    key: '',
  });

  useEffect(() => {
    let current = true;
    const find = async (): Promise<PodStartup | undefined> => {
      if (!uid || !created) return undefined;
      const window = { namespace, since: created, until: oneSecondLater(created), limit: PAGE };
      let cursor: string | null = null;
      for (let page = 0; page < MAX_PAGES; page += 1) {
        const answer: PodsPage = await fetchHub('pods', { ...window, cursor });
        const found = answer.items.find((p) => p.uid === uid);
        if (found || !answer.nextCursor) return found;
        cursor = answer.nextCursor;
      }
      return undefined;
    };
    find().then(
      (record) => current && setState({ key, record }),
      (e: unknown) =>
        current && setState({ key, error: e instanceof Error ? e : new Error(String(e)) }),
    );
    return () => {
      current = false;
    };
  }, [key, uid, namespace, created]);

  const fresh = state.key === key;
  return {
    record: fresh ? state.record : undefined,
    error: fresh ? state.error : undefined,
    loaded: fresh,
    refresh,
  };
};
