import { DocumentTitle } from '@openshift-console/dynamic-plugin-sdk';
import { Button, Content, PageSection, Stack, StackItem, Title } from '@patternfly/react-core';
import { Link } from 'react-router';

import Alert from '../../utils/components/Alert';
import FeatureGateAlert from '../../utils/components/FeatureGateAlert';
import LoadError from '../../utils/components/LoadError';
import Loading from '../../utils/components/Loading';
import NoData from '../../utils/components/NoData';
import { ROUTES } from '../../utils/constants';
import { useSlipstreamTranslation } from '../../utils/hooks/useSlipstreamTranslation';
import PoolsTable from './components/PoolsTable';
import { usePoolRows } from './hooks/usePoolRows';
import '../../utils/components/slipstream.css';

const LazyPullingOverviewPage = () => {
  const { t } = useSlipstreamTranslation();
  const { rows, gate, cluster, hubNodes, storePath } = usePoolRows();
  const hubUp = hubNodes.error === undefined;
  return (
    <>
      <DocumentTitle>{t('Lazy image pulling')}</DocumentTitle>
      <PageSection>
        <Title headingLevel="h1">{t('Lazy image pulling')}</Title>
        <Content component="p">
          {t(
            'Containers start after fetching only the bytes they need; the rest of the image streams in while they run.',
          )}{' '}
          <Link to={ROUTES.dashboards}>{t('See the startup time it saves')}</Link>
        </Content>
      </PageSection>
      <PageSection>
        <Stack hasGutter>
          <StackItem>
            <FeatureGateAlert gate={gate} />
          </StackItem>
          {!hubUp && (
            <StackItem>
              <Alert
                isInline
                variant="warning"
                title={t('The Slipstream hub does not answer')}
                actionLinks={
                  <Button variant="link" isInline onClick={hubNodes.refresh}>
                    {t('Retry')}
                  </Button>
                }
              >
                {t('Agent health is unknown until the hub is reachable.')}
              </Alert>
            </StackItem>
          )}
          <StackItem>
            <Content component="small">{t('Store path: {{path}}', { path: storePath })}</Content>
          </StackItem>
          <StackItem>
            {cluster.error ? (
              <LoadError error={cluster.error} />
            ) : !cluster.loaded ? (
              <Loading />
            ) : rows.length === 0 ? (
              <NoData title={t('No machine config pools')} />
            ) : (
              <PoolsTable rows={rows} hubUp={hubUp} />
            )}
          </StackItem>
        </Stack>
      </PageSection>
    </>
  );
};

export default LazyPullingOverviewPage;
