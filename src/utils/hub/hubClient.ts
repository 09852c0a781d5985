import { consoleFetchJSON } from '@openshift-console/dynamic-plugin-sdk';

import { HUB_API } from '../constants';
import type { HubAnswers, HubPath } from './guards';
import { HUB_GUARDS } from './guards';

export type Query = Record<string, string | number | boolean | undefined | null>;

/** A hub request gives up after this long: the page shows an error with Retry, never a spinner forever. */
export const HUB_TIMEOUT_MS = 30_000;

/** The hub answered, but not in the form of its contract. */
export class HubAnswerError extends Error {
  constructor(readonly path: string) {
    super(`unexpected answer from the hub for ${path}`);
    this.name = 'HubAnswerError';
  }
}

/** The hub did not answer in time. */
export class HubTimeoutError extends Error {
  constructor(
    readonly path: string,
    readonly timeoutMs: number,
  ) {
    super(`no answer from the hub for ${path} within ${timeoutMs / 1000} s`);
    this.name = 'HubTimeoutError';
  }
}

/** Builds "/api/proxy/plugin/slipstream/hub/api/v1/<path>?a=b", leaving out empty parameters. */
export const hubUrl = (path: string, query: Query = {}): string => {
  const params = new URLSearchParams();
  Object.entries(query).forEach(([key, value]) => {
    if (value !== undefined && value !== null && value !== '') params.set(key, String(value));
  });
  const search = params.toString();
  return `${HUB_API}/${path}${search ? `?${search}` : ''}`;
};

const withTimeout = <T>(promise: Promise<T>, path: string, timeoutMs: number): Promise<T> =>
  new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new HubTimeoutError(path, timeoutMs)), timeoutMs);
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });

/** GETs a hub endpoint; rejects on an HTTP error, a timeout, or an answer outside the contract. */
export const fetchHub = async <P extends HubPath>(
  path: P,
  query?: Query,
  { timeoutMs = HUB_TIMEOUT_MS }: { timeoutMs?: number } = {},
): Promise<HubAnswers[P]> => {
  const answer: unknown = await withTimeout(
    consoleFetchJSON(hubUrl(path, query)) as Promise<unknown>,
    path,
    timeoutMs,
  );
  if (!HUB_GUARDS[path](answer)) throw new HubAnswerError(path);
  return answer;
};
