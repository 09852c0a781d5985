import { Content, Stack, StackItem, Title } from '@patternfly/react-core';

import Alert from '../../../utils/components/Alert';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import type { GateState } from '../../../utils/rollout/featureGate';
import type { AgentHealth } from '../../../utils/rollout/lazyState';
import type { ApplyBlocker, PoolPlan, WizardAction } from '../utils/planChanges';
import { firstOf } from '../utils/planChanges';
import ChangePreview from './ChangePreview';
import MachineConfigPreview from './MachineConfigPreview';

export type ReviewFacts = {
  action: WizardAction;
  plans: PoolPlan[];
  gate: GateState;
  agents: Record<string, AgentHealth>;
  /** Why Apply is disabled (empty when it is not). */
  blockers: ApplyBlocker[];
  agentConfigText?: string;
  agentConfigTarget?: string;
};

const MAX_NODES_LISTED = 5;

const ReviewStep = ({
  action,
  plans,
  gate,
  agents,
  blockers,
  agentConfigText,
  agentConfigTarget,
}: ReviewFacts) => {
  const { t } = useSlipstreamTranslation();
  const blockerText: Record<ApplyBlocker, string> = {
    'nothing-to-change': t('No selected pool needs a change.'),
    'pool-blocked': t('A selected pool cannot be changed; see its change below.'),
    'invalid-store-path': t('The store path is not valid; go back to the Store path step.'),
    'invalid-agent-options': t(
      'The agent options are not valid; go back to the Agent options step.',
    ),
    'feature-gate-off': t(
      'The AdditionalStorageConfig feature gate is off: the API server would drop the layer store and nothing would change on the nodes.',
    ),
  };
  const paused = plans.filter((p) => p.pool.spec.paused).map((p) => p.pool.metadata?.name ?? '');
  const withoutAgent = plans
    .map((p) => p.pool.metadata?.name ?? '')
    .filter((name) => (agents[name]?.missing.length ?? 0) > 0);
  return (
    <Stack hasGutter data-test="review">
      {blockers.length > 0 && (
        <StackItem>
          <Alert
            isInline
            variant="danger"
            title={t('Apply is not possible')}
            data-test="apply-blockers"
          >
            <ul className="slipstream__blockers">
              {blockers.map((b) => (
                <li key={b}>{blockerText[b]}</li>
              ))}
            </ul>
          </Alert>
        </StackItem>
      )}
      <StackItem>
        <Alert isInline variant="warning" title={t('Nodes drain and reboot')}>
          {t(
            'Changing the layer stores rewrites /etc/containers/storage.conf: every node of the pool is drained and rebooted, maxUnavailable at a time.',
          )}
        </Alert>
      </StackItem>
      {action === 'enable' && gate.enabled === false && (
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
      {action === 'enable' && gate.enabled === undefined && (
        <StackItem>
          <Alert
            isInline
            variant="warning"
            title={t('The AdditionalStorageConfig feature gate could not be checked')}
          >
            {t(
              'You may not read the cluster FeatureGate. Unless the gate is on (on OpenShift 4.22 through the TechPreviewNoUpgrade feature set), the API server drops the field and nothing changes.',
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
              .map((pool) => {
                // A large pool lists its first few nodes and counts the rest.
                const { shown, more } = firstOf(agents[pool].missing, MAX_NODES_LISTED);
                const nodes = shown.join(', ');
                return more > 0
                  ? t('Pool {{pool}}: {{nodes}} and {{count}} more', {
                      pool,
                      nodes,
                      count: more,
                    })
                  : t('Pool {{pool}}: {{nodes}}', { pool, nodes });
              })
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
      <StackItem>
        <Title headingLevel="h2">{t('MachineConfig changes')}</Title>
        <Content component="p" data-test="machineconfig-why">
          {action === 'enable'
            ? t(
                'CRI-O cannot start while a layer store in /etc/containers/storage.conf is missing, so each pool gets a MachineConfig that creates the store directory at every boot, before CRI-O, and nodes that join the pool later boot with it. It is sent before the ContainerRuntimeConfig change.',
              )
            : t(
                'The MachineConfig that created the store directory at every boot is deleted after the ContainerRuntimeConfig change, once no layer store needs the directory.',
              )}
        </Content>
      </StackItem>
      {plans.map((plan) => (
        <StackItem key={`machineconfig-${plan.pool.metadata?.name}`}>
          <MachineConfigPreview plan={plan} />
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
