import type { DefaultLegendContentProps } from 'recharts';

/**
 * A chart legend whose colour swatches are decorative (recharts names each icon "… legend icon" in
 * English): screen readers read the series names only, which come translated.
 */
const ChartLegend = ({ payload }: DefaultLegendContentProps) => {
  if (!payload?.length) return null;
  return (
    <ul className="slipstream__legend recharts-default-legend">
      {payload.map((entry, i) =>
        entry.type === 'none' ? null : (
          <li key={`${entry.value ?? ''}-${i}`} className="slipstream__legend-item">
            <svg width={14} height={14} viewBox="0 0 32 32" aria-hidden="true" focusable="false">
              <rect y={4} width={32} height={24} fill={entry.color} />
            </svg>
            <span>{entry.value}</span>
          </li>
        ),
      )}
    </ul>
  );
};

/** For recharts' Legend `content`. */
export const renderChartLegend = (props: DefaultLegendContentProps) => <ChartLegend {...props} />;

export default ChartLegend;
