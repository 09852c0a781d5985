import { Bar } from 'recharts';

import { CHART_COLORS } from '../../../utils/components/chartTheme';

/**
 * The two series of a "lazy against normal" bar chart (data keys `lazy` and `normal`), in their
 * theme colours and drawn at once, without animation. Children of a BarChart.
 */
export const lazyNormalBars = (t: (key: string) => string) =>
  (
    [
      ['lazy', t('Lazy')],
      ['normal', t('Normal')],
    ] as const
  ).map(([key, name]) => (
    <Bar key={key} dataKey={key} name={name} fill={CHART_COLORS[key]} isAnimationActive={false} />
  ));
