import { Bar, BarChart, CartesianGrid, Legend, Tooltip, XAxis, YAxis } from 'recharts';

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
import type { ImageStats } from '../../../utils/types/hub';

/** Median startup timeline of lazy pods: created → pulled → started → ready, as one stacked bar. */
const ImageTimelineChart = ({ image }: { image: ImageStats }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const format = (v: unknown) => (typeof v === 'number' ? formatDuration(v, locale) : String(v));
  const data = [{ name: t('Median lazy pod'), ...image.timeline }];
  return (
    <ChartFrame
      label={t('Startup timeline of {{image}}', { image: image.image })}
      height={140}
      testId="image-timeline"
    >
      <BarChart data={data} layout="vertical" accessibilityLayer>
        <CartesianGrid stroke={CHART_COLORS.grid} strokeDasharray="3 3" />
        <XAxis type="number" tick={AXIS_TICK} tickFormatter={format} />
        <YAxis type="category" dataKey="name" tick={AXIS_TICK} width={120} />
        <Tooltip formatter={format} {...TOOLTIP_PROPS} cursor={BAR_CURSOR} />
        <Legend content={renderChartLegend} />
        <Bar
          dataKey="createdToPulled"
          stackId="t"
          name={t('Created → pulled')}
          fill={CHART_COLORS.normal}
          isAnimationActive={false}
        />
        <Bar
          dataKey="pulledToStarted"
          stackId="t"
          name={t('Pulled → started')}
          fill={CHART_COLORS.lazy}
          isAnimationActive={false}
        />
        <Bar
          dataKey="startedToReady"
          stackId="t"
          name={t('Started → ready')}
          fill={CHART_COLORS.prefetch}
          isAnimationActive={false}
        />
      </BarChart>
    </ChartFrame>
  );
};

export default ImageTimelineChart;
