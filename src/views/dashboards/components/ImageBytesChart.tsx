import { Bar, BarChart, CartesianGrid, Tooltip, XAxis, YAxis } from 'recharts';

import ChartFrame from '../../../utils/components/ChartFrame';
import {
  AXIS_TICK,
  BAR_CURSOR,
  CHART_COLORS,
  TOOLTIP_PROPS,
} from '../../../utils/components/chartTheme';
import NoData from '../../../utils/components/NoData';
import { formatBytes } from '../../../utils/format/format';
import { useLocale } from '../../../utils/hooks/useLocale';
import { useSlipstreamTranslation } from '../../../utils/hooks/useSlipstreamTranslation';
import type { ImageStats } from '../../../utils/types/hub';

/** Bytes fetched on demand, by prefetch and in the background, next to the image size. */
const ImageBytesChart = ({ image }: { image: ImageStats }) => {
  const { t } = useSlipstreamTranslation();
  const locale = useLocale();
  const format = (v: unknown) => (typeof v === 'number' ? formatBytes(v, locale) : String(v));
  const data = [
    { name: t('On demand'), bytes: image.bytes.onDemand, fill: CHART_COLORS.lazy },
    { name: t('Prefetched'), bytes: image.bytes.prefetch, fill: CHART_COLORS.prefetch },
    { name: t('Background'), bytes: image.bytes.background, fill: CHART_COLORS.background },
    ...(image.bytes.total === null
      ? []
      : [{ name: t('Image size'), bytes: image.bytes.total, fill: CHART_COLORS.normal }]),
  ];
  // All zero: an axis of "0 byte, 1 byte" would say nothing.
  if (data.every((d) => d.bytes === 0))
    return <NoData title={t('No bytes fetched for this image')} />;
  return (
    <ChartFrame
      label={t('Bytes fetched for {{image}}', { image: image.image })}
      height={220}
      testId="image-bytes"
    >
      <BarChart data={data} accessibilityLayer>
        <CartesianGrid stroke={CHART_COLORS.grid} strokeDasharray="3 3" />
        <XAxis dataKey="name" tick={AXIS_TICK} />
        <YAxis tick={AXIS_TICK} tickFormatter={format} width={80} allowDecimals={false} />
        <Tooltip formatter={format} {...TOOLTIP_PROPS} cursor={BAR_CURSOR} />
        <Bar dataKey="bytes" name={t('Bytes')} isAnimationActive={false} />
      </BarChart>
    </ChartFrame>
  );
};

export default ImageBytesChart;
