import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import {
  hubImages,
  hubLayers,
  hubNodes,
  hubPods,
  hubSummary,
  hubTimeseries,
} from '../../utils/fixtures/hub';
import { mockHub } from '../../utils/fixtures/sdkMocks';
import StartupDashboardsPage from './StartupDashboardsPage';

// user-event types key by key; on a loaded 2-core machine that takes a few seconds.
jest.setTimeout(30_000);

describe('StartupDashboardsPage', () => {
  beforeEach(() => {
    mockHub({
      pods: hubPods,
      summary: hubSummary,
      images: hubImages,
      'images/layers': hubLayers,
      nodes: hubNodes,
      timeseries: hubTimeseries,
    });
  });

  it('renders the pod distributions (charts have a size in jsdom) and the table', async () => {
    render(<StartupDashboardsPage />);
    const histogram = await screen.findByTestId('startup-histogram');
    expect(histogram.querySelectorAll('.recharts-bar-rectangle').length).toBeGreaterThan(0);
    expect(histogram).toHaveAttribute(
      'aria-label',
      'Distribution of pod startup times, lazy against normal',
    );
    expect(await screen.findByTestId('pod-savings-table')).toBeInTheDocument();
  });

  it('renders the image view with the hottest file first', async () => {
    render(<StartupDashboardsPage />);
    await userEvent.click(screen.getByRole('tab', { name: 'Images' }));
    expect(await screen.findByTestId('image-timeline')).toBeInTheDocument();
    const hottest = hubLayers.items
      .flatMap((l) => l.hotFiles)
      .reduce((a, b) => (b.bytes > a.bytes ? b : a));
    const table = await screen.findByTestId('hot-files');
    expect(within(table).getAllByRole('row')[1]).toHaveTextContent(hottest.path);
  });

  it('renders the telemetry charts', async () => {
    render(<StartupDashboardsPage />);
    await userEvent.click(screen.getByRole('tab', { name: 'Chunk fetches' }));
    expect(await screen.findByTestId('chart-rate')).toBeInTheDocument();
    expect(screen.getByTestId('chart-latency')).toBeInTheDocument();
  });

  it('shows the hub error with a retry', async () => {
    mockHub({});
    render(<StartupDashboardsPage />);
    expect(await screen.findByText('Could not load data')).toBeInTheDocument();
  });

  it('shows the percentiles error next to the pods that did load', async () => {
    mockHub({ pods: hubPods });
    render(<StartupDashboardsPage />);
    expect(await screen.findByTestId('startup-histogram')).toBeInTheDocument();
    expect(await screen.findByText('Could not load data')).toBeInTheDocument();
    expect(screen.getByText('404 summary')).toBeInTheDocument();
  });

  it('shows the error state, not a blank page, when the hub answers in another shape', async () => {
    const empty = {
      pods: {},
      summary: {},
      images: {},
      'images/layers': {},
      nodes: {},
      timeseries: {},
    };
    mockHub(empty);
    render(<StartupDashboardsPage />);
    const understand = 'The hub answered with data this console plugin does not understand.';
    expect(await screen.findByText(understand)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('tab', { name: 'Images' }));
    expect(await screen.findByText(understand)).toBeInTheDocument();
    await userEvent.click(screen.getByRole('tab', { name: 'Chunk fetches' }));
    expect(await screen.findByText(understand)).toBeInTheDocument();
  });

  it('refuses non-numeric values instead of showing "NaN"', async () => {
    const pod = { ...hubPods.items[1], startupSeconds: 'abc' };
    mockHub({ pods: { ...hubPods, items: [pod] }, summary: hubSummary });
    render(<StartupDashboardsPage />);
    expect(await screen.findByTestId('load-error')).toBeInTheDocument();
    expect(screen.queryByText(/NaN/)).not.toBeInTheDocument();
    // The pod list has a Retry too.
    mockHub({ pods: hubPods, summary: hubSummary });
    await userEvent.click(screen.getByRole('button', { name: 'Retry' }));
    expect(await screen.findByTestId('pod-savings-table')).toBeInTheDocument();
  });

  it('shows an empty state without pods', async () => {
    mockHub({ pods: { items: [], nextCursor: null, total: 0 }, summary: hubSummary });
    render(<StartupDashboardsPage />);
    expect(await screen.findByText('No pod starts in this time range')).toBeInTheDocument();
  });
});
