import { Alert, Content, Stack, StackItem, Title } from '@patternfly/react-core';
import { Link } from 'react-router';

import Loading from '../../../utils/components/Loading';
import RolloutProgress from '../../../utils/components/RolloutProgress';
import { ROUTES } from '../../../utils/constants';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import { getRolloutStatus } from '../../../utils/rollout/rolloutStatus';
import type { MachineConfigPool } from '../../../utils/types/k8s';
import type { StepResult } from '../hooks/useApplyChanges';

/** What was sent, and then the live rollout of each pool from the MachineConfigPool watch. */
const ApplyStep = ({
  results,
  running,
  pools,
}: {
  results: StepResult[];
  running: boolean;
  pools: MachineConfigPool[];
}) => {
  const { t } = useSlipstreamTranslation();
  const statusText: Record<StepResult['status'], string> = {
    done: t('Applied'),
    failed: t('Failed'),
    pending: t('Sending'),
  };
  const label = (id: string) =>
    id === 'agent-config' ? t('Agent configuration') : t('Pool {{pool}}', { pool: id });
  return (
    <Stack hasGutter data-test="apply">
      {results.map((r) => (
        <StackItem key={r.id}>
          <Alert
            isInline
            isPlain
            // Announced by screen readers as each request is answered.
            isLiveRegion
            variant={r.status === 'done' ? 'success' : r.status === 'failed' ? 'danger' : 'info'}
            title={t('{{target}}: {{status}}', {
              target: label(r.id),
              status: statusText[r.status],
            })}
            data-test={`result-${r.id}`}
          >
            {r.error}
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
          {pools.map((pool) => (
            <StackItem key={pool.metadata?.name}>
              <Title headingLevel="h3">{pool.metadata?.name}</Title>
              <RolloutProgress
                status={getRolloutStatus(pool)}
                poolName={pool.metadata?.name ?? ''}
              />
            </StackItem>
          ))}
          <StackItem>
            <Link to={ROUTES.overview}>{t('Back to the overview')}</Link>
          </StackItem>
        </>
      )}
    </Stack>
  );
};

export default ApplyStep;
