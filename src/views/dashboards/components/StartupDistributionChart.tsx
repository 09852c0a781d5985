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
import type { HistogramBin } from '../../../utils/savings/savings';
import { lazyNormalBars } from './lazyNormalBars';

/** Histogram of pod startup times, lazy pods against normal pods, over one axis. */
const StartupDistributionChart = ({ bins }: { bins: HistogramBin[] }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const data = bins.map((b) => ({
    ...b,
    label: `${formatDuration(b.from, locale)}–${formatDuration(b.to, locale)}`,
  }));
  return (
    <ChartFrame
      label={t('Distribution of pod startup times, lazy against normal')}
      testId="startup-histogram"
    >
      <BarChart data={data} accessibilityLayer>
        <CartesianGrid stroke={CHART_COLORS.grid} strokeDasharray="3 3" />
        <XAxis dataKey="label" tick={AXIS_TICK} />
        <YAxis
          allowDecimals={false}
          tick={AXIS_TICK}
          label={{ value: t('Pods'), angle: -90, position: 'insideLeft', fill: CHART_COLORS.axis }}
        />
        <Tooltip {...TOOLTIP_PROPS} cursor={BAR_CURSOR} />
        <Legend content={renderChartLegend} />
        {lazyNormalBars(t)}
      </BarChart>
    </ChartFrame>
  );
};

export default StartupDistributionChart;
