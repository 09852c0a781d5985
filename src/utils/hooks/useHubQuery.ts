import { useCallback, useEffect, useState } from 'react';

import type { HubAnswers, HubPath } from '../hub/guards';
import type { Query } from '../hub/hubClient';
import { fetchHub, hubUrl } from '../hub/hubClient';

export type HubQuery<T> = {
  data: T | undefined;
  loaded: boolean;
  error: Error | undefined;
  refresh: () => void;
};

/**
 * GETs a hub endpoint and refetches when the URL changes, every `pollSeconds` if given, or on
 * refresh() or a new reloadKey. A null path waits (dependent queries). Stale answers of an older URL are dropped.
 * An answer outside the endpoint's contract, or none in time, is an error like a failed request.
 */
export const useHubQuery = <P extends HubPath>(
  path: P | null,
  query?: Query,
  { pollSeconds, reloadKey = 0 }: { pollSeconds?: number; reloadKey?: number } = {},
): HubQuery<HubAnswers[P]> => {
  type T = HubAnswers[P];
  const url = path === null ? null : hubUrl(path, query);
  const [state, setState] = useState<{ url: string | null; data?: T; error?: Error }>({
    url: null,
  });
  const [tick, setTick] = useState(0);
  const refresh = useCallback(() => setTick((n) => n + 1), []);

  useEffect(() => {
    if (path === null || url === null) return undefined;
    let current = true;
    fetchHub(path, query).then(
      (data) => current && setState({ url, data }),
      (error: unknown) =>
        current &&
        setState({ url, error: error instanceof Error ? error : new Error(String(error)) }),
    );
    return () => {
      current = false;
    };
    // `query` is represented by `url`; refetch exactly when the URL or tick changes.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [url, tick, reloadKey]);

  useEffect(() => {
    if (!pollSeconds || url === null) return undefined;
    const timer = setInterval(refresh, pollSeconds * 1000);
    return () => clearInterval(timer);
  }, [pollSeconds, url, refresh]);

  const fresh = state.url === url;
  return {
    data: fresh ? state.data : undefined,
    error: fresh ? state.error : undefined,
    loaded: fresh && (state.data !== undefined || state.error !== undefined),
    refresh,
  };
};
