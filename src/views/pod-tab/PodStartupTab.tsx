import {
  DescriptionList,
  DescriptionListDescription,
  DescriptionListGroup,
  DescriptionListTerm,
  Label,
  PageSection,
  Stack,
  StackItem,
  Title,
} from '@patternfly/react-core';

import LoadError from '../../utils/components/LoadError';
import Loading from '../../utils/components/Loading';
import NoData from '../../utils/components/NoData';
import SavingsBasis from '../../utils/components/SavingsBasis';
import { formatDuration } from '../../utils/format/format';
import { useLocale } from '../../utils/hooks/useLocale';
import { useSlipstreamTranslation } from '../../utils/hooks/useSlipstreamTranslation';
import { podPhaseTimes } from '../../utils/savings/savings';
import type { Pod } from '../../utils/types/k8s';
import PhaseTimeline from './components/PhaseTimeline';
import { usePodRecord } from './hooks/usePodRecord';
import '../../utils/components/slipstream.css';

/** "Startup" tab on a Pod: its own phases from the object, and the hub's savings for it. */
const PodStartupTab = ({ obj: pod }: { obj: Pod }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const { record, loaded, error, refresh } = usePodRecord(pod);
  const duration = (s: number | null | undefined) =>
    s === null || s === undefined ? '—' : formatDuration(s, locale);
  return (
    <PageSection>
      <Stack hasGutter>
        <StackItem>
          <Title headingLevel="h2">{t('Startup')}</Title>
        </StackItem>
        <StackItem>
          <PhaseTimeline times={podPhaseTimes(pod)} />
        </StackItem>
        {error && (
          <StackItem>
            <LoadError error={error} onRetry={refresh} />
          </StackItem>
        )}
        {!loaded && (
          <StackItem>
            <Loading />
          </StackItem>
        )}
        {loaded && !error && !record && (
          <StackItem>
            <NoData
              title={t('No startup record for this pod')}
              body={t(
                'The hub records pods once an agent or its pod watch has seen them start; savings appear here then.',
              )}
            />
          </StackItem>
        )}
        {record && (
          <StackItem>
            <DescriptionList isHorizontal data-test="pod-savings">
              <DescriptionListGroup>
                <DescriptionListTerm>{t('Pulled lazily')}</DescriptionListTerm>
                <DescriptionListDescription>
                  <Label color={record.lazy ? 'blue' : 'grey'}>
                    {record.lazy ? t('Yes') : t('No')}
                  </Label>
                </DescriptionListDescription>
              </DescriptionListGroup>
              <DescriptionListGroup>
                <DescriptionListTerm>{t('Startup time')}</DescriptionListTerm>
                <DescriptionListDescription>
                  {duration(record.startupSeconds)}
                </DescriptionListDescription>
              </DescriptionListGroup>
              <DescriptionListGroup>
                <DescriptionListTerm>{t('Image pull time')}</DescriptionListTerm>
                <DescriptionListDescription>
                  {duration(record.pullSeconds)}
                </DescriptionListDescription>
              </DescriptionListGroup>
              <DescriptionListGroup>
                <DescriptionListTerm>{t('Time saved')}</DescriptionListTerm>
                <DescriptionListDescription>
                  {duration(record.savings.seconds)} <SavingsBasis basis={record.savings.basis} />
                </DescriptionListDescription>
              </DescriptionListGroup>
            </DescriptionList>
          </StackItem>
        )}
      </Stack>
    </PageSection>
  );
};

export default PodStartupTab;
