import { BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from 'recharts';

import ChartFrame from '../../../utils/components/ChartFrame';
import { renderChartLegend } from '../../../utils/components/ChartLegend';
import {
  AXIS_TICK,
  BAR_CURSOR,
  CHART_COLORS,
  TOOLTIP_PROPS,
} from '../../../utils/components/chartTheme';
import { formatDuration } from '../../../utils/format/format';
import { useLocale } from '../../../utils/hooks/useLocale';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import type { PercentileRow } from '../../../utils/savings/savings';
import { lazyNormalBars } from './lazyNormalBars';

/** p50 / p90 / p99 startup time, lazy against normal. */
const PercentileChart = ({ rows }: { rows: PercentileRow[] }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const format = (v: unknown) => (typeof v === 'number' ? formatDuration(v, locale) : String(v));
  return (
    <ChartFrame
      label={t('Startup time percentiles, lazy against normal')}
      testId="startup-percentiles"
      height={220}
    >
      <BarChart data={rows} accessibilityLayer>
        <CartesianGrid stroke={CHART_COLORS.grid} strokeDasharray="3 3" />
        <XAxis dataKey="percentile" tick={AXIS_TICK} />
        <YAxis tick={AXIS_TICK} tickFormatter={format} width={80} />
        <Tooltip formatter={format} {...TOOLTIP_PROPS} cursor={BAR_CURSOR} />
        <Legend content={renderChartLegend} />
        {lazyNormalBars(t)}
      </BarChart>
    </ChartFrame>
  );
};

export default PercentileChart;
