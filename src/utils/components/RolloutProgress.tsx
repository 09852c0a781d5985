import { Content, Progress, ProgressVariant } from '@patternfly/react-core';

import { formatNumber, formatPercent } from '../format/format';
import { useLocale } from '../hooks/useLocale';
import { useSlipstreamTranslation } from '../hooks/useSlipstreamTranslation';
import type { RolloutStatus } from '../rollout/rolloutStatus';

const VARIANTS = {
  updated: ProgressVariant.success,
  degraded: ProgressVariant.danger,
  paused: ProgressVariant.warning,
} as const;

/** Updated / ready / degraded machine counts of a pool, as a progress bar with a readable summary. */
const RolloutProgress = ({ status, poolName }: { status: RolloutStatus; poolName: string }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const phaseText = {
    updated: t('Up to date'),
    updating: t('Updating'),
    paused: t('Paused'),
    degraded: t('Degraded'),
    pending: t('Waiting for the Machine Config Operator'),
    empty: t('No machines in this pool'),
  }[status.phase];
  const variant =
    status.phase in VARIANTS ? VARIANTS[status.phase as keyof typeof VARIANTS] : undefined;
  return (
    <div className="slipstream__rollout" data-test={`rollout-${poolName}`}>
      <Progress
        value={status.percent}
        label={formatPercent(status.percent / 100, locale)}
        valueText={formatPercent(status.percent / 100, locale)}
        title={phaseText}
        size="sm"
        variant={variant}
        aria-label={t('Rollout of pool {{pool}}', { pool: poolName })}
        measureLocation="outside"
      />
      <Content component="small">
        {t('{{updated}} of {{total}} updated, {{ready}} ready, {{degraded}} degraded', {
          updated: formatNumber(status.updated, locale),
          total: formatNumber(status.machineCount, locale),
          ready: formatNumber(status.ready, locale),
          degraded: formatNumber(status.degraded, locale),
        })}
      </Content>
      {status.reasons.map((c) => (
        <Content component="small" key={c.type} className="slipstream__condition">
          {c.type}: {c.message ?? c.reason}
        </Content>
      ))}
    </div>
  );
};

export default RolloutProgress;
