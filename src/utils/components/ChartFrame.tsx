import type { ReactElement } from 'react';
import { ResponsiveContainer } from 'recharts';

/**
 * A chart in a labelled figure of fixed height. ResponsiveContainer measures 0×0 in jsdom, so the
 * initial dimension keeps charts rendering in unit tests (and before the first resize event).
 */
const ChartFrame = ({
  label,
  height = 260,
  children,
  testId,
}: {
  label: string;
  height?: number;
  children: ReactElement;
  testId?: string;
}) => (
  <figure className="slipstream__chart" aria-label={label} data-test={testId}>
    <ResponsiveContainer width="100%" height={height} initialDimension={{ width: 640, height }}>
      {children}
    </ResponsiveContainer>
  </figure>
);

export default ChartFrame;
