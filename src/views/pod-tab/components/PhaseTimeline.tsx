import { Table, Tbody, Td, Th, Thead, Tr } from '@patternfly/react-table';

import { formatDuration, formatTime } from '../../../utils/format/format';
import { useLocale } from '../../../utils/hooks/useLocale';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import type { PodPhaseTimes } from '../../../utils/savings/savings';
import { secondsBetween } from '../../../utils/savings/savings';

/** The startup phases of a pod: created → scheduled → sandbox ready → started → Ready. */
const PhaseTimeline = ({ times }: { times: PodPhaseTimes }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const phases: [string, string | undefined][] = [
    [t('Created'), times.created],
    [t('Scheduled'), times.scheduled],
    [t('Sandbox ready'), times.readyToStart],
    [t('First container started'), times.firstStarted],
    [t('Ready'), times.ready],
  ];
  return (
    <Table aria-label={t('Startup phases')} variant="compact" data-test="phase-timeline">
      <Thead>
        <Tr>
          <Th>{t('Phase')}</Th>
          <Th>{t('Time')}</Th>
          <Th>{t('Since creation')}</Th>
        </Tr>
      </Thead>
      <Tbody>
        {phases.map(([label, at]) => {
          const since = secondsBetween(times.created, at);
          return (
            <Tr key={label}>
              <Td dataLabel={t('Phase')}>{label}</Td>
              <Td dataLabel={t('Time')}>{at ? formatTime(at, locale) : '—'}</Td>
              <Td dataLabel={t('Since creation')}>
                {since === null ? '—' : formatDuration(since, locale)}
              </Td>
            </Tr>
          );
        })}
      </Tbody>
    </Table>
  );
};

export default PhaseTimeline;
