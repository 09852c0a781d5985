import { consoleFetchJSON } from '@openshift-console/dynamic-plugin-sdk';

import { HUB_API } from '../constants';

export type Query = Record<string, string | number | boolean | undefined | null>;

/** Builds "/api/proxy/plugin/slipstream/hub/api/v1/<path>?a=b", leaving out empty parameters. */
export const hubUrl = (path: string, query: Query = {}): string => {
  const params = new URLSearchParams();
  Object.entries(query).forEach(([key, value]) => {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  });
  const search = params.toString();
  return `${HUB_API}/${path}${search ? `?${search}` : ''}`;
};

export const fetchHub = <T>(path: string, query?: Query): Promise<T> =>
  consoleFetchJSON(hubUrl(path, query)) as Promise<T>;
