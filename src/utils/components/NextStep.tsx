import { Content } from '@patternfly/react-core';

import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';
import type { NextStep as Step } from '../rollout/lazyState';

/** The next action for a pool, spelled out. */
const NextStep = ({ step, missingAgents }: { step: Step; missingAgents: number }) => {
  const { t } = useSlipstreamTranslation();
  const text: Record<Step, string> = {
    'enable-feature-gate': t(
      'Turn on the AdditionalStorageConfig feature gate (TechPreviewNoUpgrade on 4.22) first.',
    ),
    'install-agent': t('Start the Slipstream agent on the {{count}} nodes that lack it.', {
      count: missingAgents,
    }),
    enable: t('Ready: enable lazy pulling for this pool.'),
    'unpause-pool': t('Unpause the pool so that its nodes pick up the change.'),
    'wait-for-rollout': t('Wait: nodes drain and reboot one by one.'),
    'investigate-degraded': t('Look at the degraded nodes before changing anything.'),
    'investigate-ctrcfg': t('The Machine Config Operator rejected the ContainerRuntimeConfig.'),
    'add-store-machineconfig': t(
      'No MachineConfig creates the store directory at boot, so a node that joins this pool cannot start CRI-O. Choose Repair to add it.',
    ),
    none: t('Nothing to do: lazy pulling is active.'),
  };
  return (
    <Content component="small" data-test="next-step">
      {text[step]}
    </Content>
  );
};

export default NextStep;
