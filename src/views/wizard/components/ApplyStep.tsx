import { Content, Stack, StackItem, Title } from '@patternfly/react-core';
import { Link } from 'react-router';

import Alert from '../../../utils/components/Alert';
import Loading from '../../../utils/components/Loading';
import RolloutProgress from '../../../utils/components/RolloutProgress';
import { ROUTES } from '../../../utils/constants';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import { getRolloutStatus, rolloutSince } from '../../../utils/rollout/rolloutStatus';
import type { MachineConfigPool } from '../../../utils/types/k8s';
import type { StepResult } from '../hooks/useApplyChanges';
import type { SkipReason } from '../utils/applyOrder';
import type { AppliedPool } from '../utils/planChanges';

/**
 * What was sent, and then the live rollout of each pool from the MachineConfigPool watch. A pool
 * whose change was accepted waits for the MCO instead of showing its state from before the change.
 */
const ApplyStep = ({
  results,
  running,
  pools,
  applied,
}: {
  results: StepResult[];
  running: boolean;
  pools: MachineConfigPool[];
  applied: Record<string, AppliedPool>;
}) => {
  const { t } = useSlipstreamTranslation();
  const statusText: Record<StepResult['status'], string> = {
    done: t('Applied'),
    failed: t('Failed'),
    pending: t('Sending'),
    skipped: t('Not sent'),
  };
  const skipText: Record<SkipReason, string> = {
    'store-directory-missing': t(
      'The MachineConfig that creates the store directory is not in place, so the layer store was not added: new nodes could not start CRI-O without the directory.',
    ),
    'store-still-listed': t(
      'The ContainerRuntimeConfig change failed and the layer store is still listed, so the MachineConfig that creates its directory stays.',
    ),
  };
  const label = (r: StepResult) => {
    if (r.machineConfig) return t('MachineConfig {{name}}', { name: r.machineConfig });
    return r.id === 'agent-config' ? t('Agent configuration') : t('Pool {{pool}}', { pool: r.id });
  };
  const variant = (status: StepResult['status']) => {
    switch (status) {
      case 'done':
        return 'success';
      case 'failed':
        return 'danger';
      case 'skipped':
        return 'warning';
      default:
        return 'info';
    }
  };
  const body = (r: StepResult) => {
    if (r.status === 'skipped') return r.skipReason ? skipText[r.skipReason] : undefined;
    return r.conflict
      ? t(
          'It was changed by someone else after this page read it, so this request changed nothing. Reload the page and review the change again.',
        )
      : r.error;
  };
  return (
    <Stack hasGutter data-test="apply">
      {results.map((r) => (
        <StackItem key={r.id}>
          <Alert
            isInline
            isPlain
            // Announced by screen readers as each request is answered.
            isLiveRegion
            variant={variant(r.status)}
            title={t('{{target}}: {{status}}', {
              target: label(r),
              status: statusText[r.status],
            })}
            data-test={`result-${r.id}`}
          >
            {body(r)}
          </Alert>
        </StackItem>
      ))}
      {running && <Loading />}
      {!running && (
        <>
          <StackItem>
            <Title headingLevel="h2">{t('Rollout')}</Title>
            <Content component="small">
              {t('Nodes update one by one; this page follows the pools live. You may leave it.')}
            </Content>
          </StackItem>
          {pools.map((pool) => {
            const name = pool.metadata?.name ?? '';
            const change = applied[name] as AppliedPool | undefined;
            // Either request starts a rollout: the MachineConfig's as well as the ctrcfg's.
            const accepted =
              change !== undefined &&
              results.some((r) => change.requestIds.includes(r.id) && r.status === 'done');
            const status = getRolloutStatus(pool);
            return (
              <StackItem key={name}>
                <Title headingLevel="h3">{name}</Title>
                <RolloutProgress
                  status={accepted ? rolloutSince(status, change.configBefore) : status}
                  poolName={name}
                />
              </StackItem>
            );
          })}
          <StackItem>
            <Link to={ROUTES.overview}>{t('Back to the overview')}</Link>
          </StackItem>
        </>
      )}
    </Stack>
  );
};

export default ApplyStep;
