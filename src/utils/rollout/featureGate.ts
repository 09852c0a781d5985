import { ALS_FEATURE_GATE } from '../constants';
import type { FeatureGate } from '../types/k8s';

export type GateState = {
  /** true/false from status; undefined when the FeatureGate was not readable. */
  enabled: boolean | undefined;
  featureSet: string;
  /** TechPreviewNoUpgrade / DevPreviewNoUpgrade cannot be undone and block minor upgrades. */
  irreversible: boolean;
};

const IRREVERSIBLE_SETS = ['TechPreviewNoUpgrade', 'DevPreviewNoUpgrade'];

/** Reads whether AdditionalStorageConfig is on, from the newest version entry of the status. */
export const additionalStorageGate = (fg: FeatureGate | undefined): GateState => {
  const featureSet = fg?.spec?.featureSet || 'Default';
  const current = fg?.status?.featureGates?.[0];
  const listed = (list?: { name: string }[]) =>
    list?.some((g) => g.name === ALS_FEATURE_GATE) ?? false;
  let enabled: boolean | undefined;
  if (current) {
    if (listed(current.enabled)) enabled = true;
    else if (listed(current.disabled)) enabled = false;
    // Not listed at all: a release where the gate was removed because it went GA.
    else enabled = true;
  }
  return { enabled, featureSet, irreversible: IRREVERSIBLE_SETS.includes(featureSet) };
};
