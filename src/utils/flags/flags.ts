// console.flag handlers: "hub installed" (its /about answers through the console proxy) and
// "AdditionalStorageConfig gate on" (from featuregates.config.openshift.io/cluster).
import type { SetFeatureFlag } from '@openshift-console/dynamic-plugin-sdk';
import { k8sGet } from '@openshift-console/dynamic-plugin-sdk';

import { FLAG_ALS_GATE, FLAG_HUB } from '../constants';
import { fetchHub, HubAnswerError } from '../hub/hubClient';
import { FeatureGateModel } from '../models';
import { additionalStorageGate } from '../rollout/featureGate';
import type { FeatureGate } from '../types/k8s';

/**
 * Waits before each retry of /about while the hub gives no definitive answer (a hub restarting or
 * being upgraded answers 502/503 for a while): about 8 minutes in all, then the flag goes false.
 */
export const HUB_RETRY_DELAYS_MS = [2, 4, 8, 15, 30, 60, 60, 60, 60, 60, 60, 60].map(
  (s) => s * 1000,
);

const statusOf = (error: unknown): number | undefined => {
  const { code, status } = (error ?? {}) as { code?: unknown; status?: unknown };
  if (typeof code === 'number') return code;
  return typeof status === 'number' ? status : undefined;
};

/**
 * An answer that will not change by asking again: no proxy route to the hub (404), the user may
 * not use it (401/403), or something other than the hub answered. 5xx, network errors and timeouts
 * are a hub that is down for now.
 */
export const isDefinitiveHubAnswer = (error: unknown): boolean => {
  if (error instanceof HubAnswerError) return true;
  const status = statusOf(error);
  return status !== undefined && status >= 400 && status < 500 && status !== 408 && status !== 429;
};

/** Sets SLIPSTREAM_HUB once the hub answers, retrying with backoff while it is only down. */
export const checkHubInstalled = (
  setFlag: SetFeatureFlag,
  delays: readonly number[] = HUB_RETRY_DELAYS_MS,
): void => {
  const attempt = (retry: number) => {
    fetchHub('about').then(
      () => setFlag(FLAG_HUB, true),
      (error: unknown) => {
        if (isDefinitiveHubAnswer(error) || retry >= delays.length) setFlag(FLAG_HUB, false);
        else setTimeout(() => attempt(retry + 1), delays[retry]);
      },
    );
  };
  attempt(0);
};

export const hubInstalledHandler = (setFlag: SetFeatureFlag): void => checkHubInstalled(setFlag);

export const alsGateHandler = (setFlag: SetFeatureFlag): void => {
  k8sGet({ model: FeatureGateModel, name: 'cluster' }).then(
    (fg) => setFlag(FLAG_ALS_GATE, additionalStorageGate(fg as FeatureGate).enabled === true),
    () => setFlag(FLAG_ALS_GATE, false),
  );
};
