import {
  Card,
  CardBody,
  CardHeader,
  CardTitle,
  Content,
  Flex,
  FlexItem,
} from '@patternfly/react-core';
import { useState } from 'react';
import { Link } from 'react-router';

import LoadError from '../../utils/components/LoadError';
import Loading from '../../utils/components/Loading';
import { ROUTES } from '../../utils/constants';
import { formatBytes, formatDuration, formatNumber } from '../../utils/format/format';
import { useHubQuery } from '../../utils/hooks/useHubQuery';
import { useLocale } from '../../utils/hooks/useLocale';
import { useSlipstreamTranslation } from '../../utils/hooks/useSlipstreamTranslation';
import { rangeStart } from '../../utils/savings/savings';
import '../../utils/components/slipstream.css';

const Metric = ({ label, value }: { label: string; value: string }) => (
  <FlexItem>
    <div className="slipstream__metric">{value}</div>
    <Content component="small">{label}</Content>
  </FlexItem>
);

/** Cluster Overview card: the last 24 hours of lazy pulling at a glance. */
const LazyPullingSummaryCard = () => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  // Fixed at mount; the card polls, and a reload moves the window.
  const [since] = useState(() => rangeStart('24h', Date.now()));
  const { data, error, refresh } = useHubQuery('summary', { since }, { pollSeconds: 60 });
  const body = () => {
    if (error) return <LoadError error={error} onRetry={refresh} />;
    if (!data) return <Loading />;
    const lazyP50 = data.startupSeconds.lazy?.p50;
    const normalP50 = data.startupSeconds.normal?.p50;
    return (
      <Flex spaceItems={{ default: 'spaceItemsXl' }} data-test="summary-metrics">
        <Metric label={t('Pods started lazily')} value={formatNumber(data.pods.lazy, locale)} />
        <Metric
          label={t('Startup time saved')}
          value={formatDuration(data.savedSecondsTotal, locale)}
        />
        <Metric
          label={t('Median startup, lazy / normal')}
          value={`${lazyP50 === undefined ? '—' : formatDuration(lazyP50, locale)} / ${
            normalP50 === undefined ? '—' : formatDuration(normalP50, locale)
          }`}
        />
        <Metric
          label={t('Healthy agents')}
          value={t('{{healthy}} of {{total}}', {
            healthy: formatNumber(data.nodes.healthy, locale),
            total: formatNumber(data.nodes.total, locale),
          })}
        />
        <Metric label={t('Fetched on demand')} value={formatBytes(data.bytes.onDemand, locale)} />
      </Flex>
    );
  };
  return (
    <Card data-test="slipstream-summary-card">
      <CardHeader
        actions={{ actions: <Link to={ROUTES.dashboards}>{t('View startup dashboards')}</Link> }}
      >
        <CardTitle>{t('Lazy image pulling, last 24 hours')}</CardTitle>
      </CardHeader>
      <CardBody>{body()}</CardBody>
    </Card>
  );
};

export default LazyPullingSummaryCard;
