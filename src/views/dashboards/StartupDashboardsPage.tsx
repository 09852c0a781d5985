import { DocumentTitle } from '@openshift-console/dynamic-plugin-sdk';
import {
  Button,
  Flex,
  FlexItem,
  PageSection,
  Tab,
  Tabs,
  TabTitleText,
  Title,
} from '@patternfly/react-core';
import { SyncAltIcon } from '@patternfly/react-icons';
import { useMemo, useState } from 'react';

import { useSlipstreamTranslation } from '../../utils/hooks/useSlipstreamTranslation';
import type { TimeRange } from '../../utils/savings/savings';
import { rangeStart } from '../../utils/savings/savings';
import ImagesPanel from './components/ImagesPanel';
import PodsPanel from './components/PodsPanel';
import TelemetryPanel from './components/TelemetryPanel';
import TimeRangeSelect from './components/TimeRangeSelect';
import '../../utils/components/slipstream.css';

type TabKey = 'pods' | 'images' | 'telemetry';

const StartupDashboardsPage = () => {
  const { t } = useSlipstreamTranslation();
  const [tab, setTab] = useState<TabKey>('pods');
  const [range, setRange] = useState<TimeRange>('24h');
  const [reloadKey, setReloadKey] = useState(0);
  // The window is fixed when the range or reload changes, so every panel queries the same span.
  const [now, setNow] = useState(() => Date.now());
  const { since, until } = useMemo(
    () => ({ since: rangeStart(range, now), until: new Date(now).toISOString() }),
    [range, now],
  );
  const reload = () => {
    setNow(Date.now());
    setReloadKey((k) => k + 1);
  };
  return (
    <>
      <DocumentTitle>{t('Startup time')}</DocumentTitle>
      <PageSection>
        <Flex justifyContent={{ default: 'justifyContentSpaceBetween' }}>
          <FlexItem>
            <Title headingLevel="h1">{t('Startup time')}</Title>
          </FlexItem>
          <FlexItem>
            <Flex>
              <TimeRangeSelect
                value={range}
                onChange={(r) => {
                  setRange(r);
                  setNow(Date.now());
                }}
              />
              <Button
                variant="plain"
                aria-label={t('Refresh')}
                onClick={reload}
                icon={<SyncAltIcon />}
              />
            </Flex>
          </FlexItem>
        </Flex>
      </PageSection>
      <PageSection>
        <Tabs
          activeKey={tab}
          onSelect={(_e, key) => setTab(key as TabKey)}
          aria-label={t('Dashboards')}
          mountOnEnter
          unmountOnExit
        >
          <Tab
            eventKey="pods"
            title={<TabTitleText>{t('Pods')}</TabTitleText>}
            data-test="tab-pods"
          >
            <PodsPanel since={since} reloadKey={reloadKey} />
          </Tab>
          <Tab
            eventKey="images"
            title={<TabTitleText>{t('Images')}</TabTitleText>}
            data-test="tab-images"
          >
            <ImagesPanel since={since} reloadKey={reloadKey} />
          </Tab>
          <Tab
            eventKey="telemetry"
            title={<TabTitleText>{t('Chunk fetches')}</TabTitleText>}
            data-test="tab-telemetry"
          >
            <TelemetryPanel since={since} until={until} range={range} reloadKey={reloadKey} />
          </Tab>
        </Tabs>
      </PageSection>
    </>
  );
};

export default StartupDashboardsPage;
