import { render, screen } from '@testing-library/react';
import { MemoryRouter } from 'react-router';

import { hubSummary } from '../../utils/fixtures/hub';
import { mockHub } from '../../utils/fixtures/sdkMocks';
import { formatBytes, formatNumber } from '../../utils/format/format';
import LazyPullingSummaryCard from './LazyPullingSummaryCard';

describe('LazyPullingSummaryCard', () => {
  it('summarises the last 24 hours from the hub', async () => {
    mockHub({ summary: hubSummary });
    render(
      <MemoryRouter>
        <LazyPullingSummaryCard />
      </MemoryRouter>,
    );
    const metrics = await screen.findByTestId('summary-metrics');
    expect(metrics).toHaveTextContent(formatNumber(hubSummary.pods.lazy, 'en'));
    expect(metrics).toHaveTextContent(`${hubSummary.nodes.healthy} of ${hubSummary.nodes.total}`);
    expect(metrics).toHaveTextContent(formatBytes(hubSummary.bytes.onDemand, 'en'));
    expect(screen.getByRole('link', { name: 'View startup dashboards' })).toHaveAttribute(
      'href',
      '/lazy-pulling/startup',
    );
  });
});
