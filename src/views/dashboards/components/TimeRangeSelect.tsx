import { ToggleGroup, ToggleGroupItem } from '@patternfly/react-core';

import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import type { TimeRange } from '../../../utils/savings/savings';
import { TIME_RANGES } from '../../../utils/savings/savings';

const TimeRangeSelect = ({
  value,
  onChange,
}: {
  value: TimeRange;
  onChange: (r: TimeRange) => void;
}) => {
  const { t } = useSlipstreamTranslation();
  const labels: Record<TimeRange, string> = {
    '1h': t('1 hour'),
    '6h': t('6 hours'),
    '24h': t('24 hours'),
    '7d': t('7 days'),
    '30d': t('30 days'),
  };
  return (
    <ToggleGroup aria-label={t('Time range')} data-test="time-range">
      {TIME_RANGES.map((range) => (
        <ToggleGroupItem
          key={range}
          text={labels[range]}
          buttonId={`slipstream-range-${range}`}
          isSelected={value === range}
          onChange={() => onChange(range)}
        />
      ))}
    </ToggleGroup>
  );
};

export default TimeRangeSelect;
