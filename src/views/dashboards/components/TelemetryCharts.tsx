import { Title } from '@patternfly/react-core';
import { CartesianGrid, Legend, Line, LineChart, Tooltip, XAxis, YAxis } from 'recharts';

import ChartFrame from '../../../utils/components/ChartFrame';
import { renderChartLegend } from '../../../utils/components/ChartLegend';
import { AXIS_TICK, CHART_COLORS, TOOLTIP_PROPS } from '../../../utils/components/chartTheme';
import {
  byteRateScale,
  formatAxisTime,
  formatBytesPerSecond,
  formatDuration,
  formatNumber,
  formatTooltipTime,
} from '../../../utils/format/format';
import { useLocale } from '../../../utils/hooks/useLocale';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import type { TimeseriesPoint } from '../../../utils/types/hub';

/**
 * Chunk fetch rate, bytes per second and latency percentiles over time. `spanMs` is the time range
 * shown: beyond a day the times carry their date.
 */
const TelemetryCharts = ({ points, spanMs }: { points: TimeseriesPoint[]; spanMs: number }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const data = points.map((p) => ({
    t: p.t,
    rate: p.chunkFetchesPerSecond,
    bytes: p.bytesPerSecond,
    p50: p.latencySeconds?.p50,
    p95: p.latencySeconds?.p95,
    p99: p.latencySeconds?.p99,
  }));
  const axisTime = (v: unknown) =>
    typeof v === 'string' ? formatAxisTime(v, locale, spanMs) : String(v);
  const tooltipTime = (v: unknown) =>
    typeof v === 'string' ? formatTooltipTime(v, locale, spanMs) : String(v);
  // One unit for the whole bytes chart, chosen from its largest value.
  const rateScale = byteRateScale(points.map((p) => p.bytesPerSecond));
  const seconds = (v: unknown) => (typeof v === 'number' ? formatDuration(v, locale) : String(v));
  const rate = (v: unknown) => (typeof v === 'number' ? formatNumber(v, locale, 2) : String(v));
  const bps = (v: unknown) =>
    typeof v === 'number' ? formatBytesPerSecond(v, locale, rateScale) : String(v);
  const axes = (format: (v: unknown) => string) => [
    <CartesianGrid key="g" stroke={CHART_COLORS.grid} strokeDasharray="3 3" />,
    <XAxis key="x" dataKey="t" tick={AXIS_TICK} tickFormatter={axisTime} minTickGap={24} />,
    <YAxis key="y" tick={AXIS_TICK} tickFormatter={format} width={90} />,
    <Tooltip
      key="tt"
      labelFormatter={tooltipTime}
      formatter={format}
      cursor={{ stroke: CHART_COLORS.axis }}
      {...TOOLTIP_PROPS}
    />,
    <Legend key="l" content={renderChartLegend} />,
  ];
  return (
    <>
      <Title headingLevel="h2">{t('Chunk fetches per second')}</Title>
      <ChartFrame label={t('Chunk fetches per second')} height={200} testId="chart-rate">
        <LineChart data={data} accessibilityLayer>
          {axes(rate)}
          <Line
            dataKey="rate"
            name={t('Chunk fetches per second')}
            stroke={CHART_COLORS.lazy}
            dot={false}
            isAnimationActive={false}
          />
        </LineChart>
      </ChartFrame>
      <Title headingLevel="h2">{t('Bytes fetched per second')}</Title>
      <ChartFrame label={t('Bytes fetched per second')} height={200} testId="chart-bytes">
        <LineChart data={data} accessibilityLayer>
          {axes(bps)}
          <Line
            dataKey="bytes"
            name={t('Bytes per second')}
            stroke={CHART_COLORS.prefetch}
            dot={false}
            isAnimationActive={false}
          />
        </LineChart>
      </ChartFrame>
      <Title headingLevel="h2">{t('Chunk fetch latency')}</Title>
      <ChartFrame label={t('Chunk fetch latency')} height={200} testId="chart-latency">
        <LineChart data={data} accessibilityLayer>
          {axes(seconds)}
          {(['p50', 'p95', 'p99'] as const).map((key) => (
            // Minutes without fetches have no latency: connect across them, and mark each point.
            <Line
              key={key}
              dataKey={key}
              name={key}
              stroke={CHART_COLORS[key === 'p50' ? 'lazy' : key]}
              dot={{ r: 2 }}
              connectNulls
              isAnimationActive={false}
            />
          ))}
        </LineChart>
      </ChartFrame>
    </>
  );
};

export default TelemetryCharts;
