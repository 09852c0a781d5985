import { Content, Grid, GridItem, Title } from '@patternfly/react-core';

import LoadError from '../../../utils/components/LoadError';
import Loading from '../../../utils/components/Loading';
import NoData from '../../../utils/components/NoData';
import { formatNumber } from '../../../utils/format/format';
import { useHubQuery } from '../../../utils/hooks/useHubQuery';
import { useLocale } from '../../../utils/hooks/useLocale';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import { percentileRows, startupHistogram } from '../../../utils/savings/savings';
import { MAX_PODS, useAllPods } from '../hooks/useAllPods';
import PercentileChart from './PercentileChart';
import PodSavingsTable from './PodSavingsTable';
import StartupDistributionChart from './StartupDistributionChart';

/** Per-pod startup savings: distributions and the table. */
const PodsPanel = ({ since, reloadKey }: { since: string; reloadKey: number }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const { pods, total, loaded, error, refresh } = useAllPods(since, reloadKey);
  const summary = useHubQuery('summary', { since }, { reloadKey });
  if (error) return <LoadError error={error} onRetry={refresh} />;
  if (!loaded) return <Loading />;
  if (pods.length === 0) {
    return (
      <NoData
        title={t('No pod starts in this time range')}
        body={t('Pods appear here once an agent or the hub has seen them start.')}
      />
    );
  }
  return (
    <Grid hasGutter>
      <GridItem md={7}>
        <Title headingLevel="h2">{t('Startup time distribution')}</Title>
        <StartupDistributionChart bins={startupHistogram(pods, 12)} />
      </GridItem>
      <GridItem md={5}>
        <Title headingLevel="h2">{t('Percentiles')}</Title>
        {summary.error ? (
          <LoadError error={summary.error} onRetry={summary.refresh} />
        ) : !summary.data ? (
          <Loading />
        ) : (
          <PercentileChart
            rows={percentileRows(
              summary.data.startupSeconds.lazy,
              summary.data.startupSeconds.normal,
            )}
          />
        )}
      </GridItem>
      <GridItem>
        <Title headingLevel="h2">{t('Per-pod startup savings')}</Title>
        {total > pods.length && (
          <Content component="small">
            {t('Showing the first {{shown}} of {{total}} pods.', {
              shown: formatNumber(Math.min(pods.length, MAX_PODS), locale),
              total: formatNumber(total, locale),
            })}
          </Content>
        )}
        <PodSavingsTable pods={pods} />
      </GridItem>
    </Grid>
  );
};

export default PodsPanel;
