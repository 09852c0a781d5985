import { Alert, Content, Stack, StackItem, Title } from '@patternfly/react-core';

import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import type { GateState } from '../../../utils/rollout/featureGate';
import type { AgentHealth } from '../../../utils/rollout/lazyState';
import type { PoolPlan, WizardAction } from '../utils/planChanges';
import ChangePreview from './ChangePreview';

export type ReviewFacts = {
  action: WizardAction;
  plans: PoolPlan[];
  gate: GateState;
  agents: Record<string, AgentHealth>;
  agentConfigText?: string;
  agentConfigTarget?: string;
};

const ReviewStep = ({
  action,
  plans,
  gate,
  agents,
  agentConfigText,
  agentConfigTarget,
}: ReviewFacts) => {
  const { t } = useSlipstreamTranslation();
  const paused = plans.filter((p) => p.pool.spec.paused).map((p) => p.pool.metadata?.name ?? '');
  const withoutAgent = plans
    .map((p) => p.pool.metadata?.name ?? '')
    .filter((name) => (agents[name]?.missing.length ?? 0) > 0);
  return (
    <Stack hasGutter data-test="review">
      <StackItem>
        <Alert isInline variant="warning" title={t('Nodes drain and reboot')}>
          {t(
            'Changing the layer stores rewrites /etc/containers/storage.conf: every node of the pool is drained and rebooted, maxUnavailable at a time.',
          )}
        </Alert>
      </StackItem>
      {action === 'enable' && gate.enabled !== true && (
        <StackItem>
          <Alert
            isInline
            variant="danger"
            title={t('The AdditionalStorageConfig feature gate is not on')}
          >
            {t(
              'On OpenShift 4.22 it needs the TechPreviewNoUpgrade feature set, which cannot be undone and blocks upgrades. Without it the API server drops the field and nothing changes.',
            )}
          </Alert>
        </StackItem>
      )}
      {action === 'enable' && gate.enabled === true && gate.irreversible && (
        <StackItem>
          <Alert
            isInline
            variant="info"
            title={t('Feature set: {{set}}', { set: gate.featureSet })}
          >
            {t('This cluster runs a feature set that cannot be undone and blocks upgrades.')}
          </Alert>
        </StackItem>
      )}
      {paused.length > 0 && (
        <StackItem>
          <Alert isInline variant="warning" title={t('Paused pools')}>
            {t('Pools {{pools}} are paused: the change waits until they are unpaused.', {
              pools: paused.join(', '),
            })}
          </Alert>
        </StackItem>
      )}
      {action === 'enable' && withoutAgent.length > 0 && (
        <StackItem>
          <Alert isInline variant="warning" title={t('The agent is not running on some nodes')}>
            {withoutAgent
              .map((pool) =>
                t('Pool {{pool}}: {{nodes}}', { pool, nodes: agents[pool].missing.join(', ') }),
              )
              .join('; ')}{' '}
            {t('On those nodes CRI-O finds no store and pulls images normally.')}
          </Alert>
        </StackItem>
      )}
      <StackItem>
        <Title headingLevel="h2">{t('ContainerRuntimeConfig changes')}</Title>
      </StackItem>
      {plans.map((plan) => (
        <StackItem key={plan.pool.metadata?.name}>
          <ChangePreview plan={plan} />
        </StackItem>
      ))}
      {agentConfigText !== undefined && (
        <StackItem>
          <Title headingLevel="h2">{t('Agent configuration')}</Title>
          <Content component="small">{agentConfigTarget}</Content>
          <pre className="slipstream__yaml" data-test="agent-config-yaml" tabIndex={0}>
            {agentConfigText}
          </pre>
        </StackItem>
      )}
    </Stack>
  );
};

export default ReviewStep;
