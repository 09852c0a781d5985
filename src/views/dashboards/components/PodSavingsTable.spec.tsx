import { render, screen, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';

import { hubPods } from '../../../utils/fixtures/hub';
import type { PodStartup } from '../../../utils/types/hub';
import PodSavingsTable from './PodSavingsTable';

const rows = () => within(screen.getByTestId('pod-savings-table')).getAllByRole('row').slice(1);

// 25 pods of the recorded shape, so that there is a second page.
const many: PodStartup[] = Array.from({ length: 25 }, (_, i) => ({
  ...hubPods.items[i % hubPods.items.length],
  uid: `uid-${i}`,
  name: `pod-${String(i).padStart(2, '0')}`,
  startupSeconds: 30 - i,
}));

// user-event types key by key; on a loaded 2-core machine that takes a few seconds.
jest.setTimeout(30_000);

describe('PodSavingsTable', () => {
  it('shows the recorded pods with savings and how they were obtained', () => {
    render(<PodSavingsTable pods={hubPods.items} />);
    expect(rows()).toHaveLength(hubPods.items.length);
    const lazy = hubPods.items.find((p) => p.savings.basis === 'observed-median');
    expect(lazy).toBeDefined();
    const row = rows().find((r) => r.textContent?.includes(lazy?.name ?? ''));
    expect(row).toHaveTextContent('Measured against normal pulls');
    expect(row).toHaveTextContent('Lazy');
  });

  it('labels every cell with its column, for the stacked layout of narrow screens', () => {
    render(<PodSavingsTable pods={hubPods.items} />);
    const headers = within(screen.getByTestId('pod-savings-table'))
      .getAllByRole('columnheader')
      .map((th) => th.textContent);
    const labels = within(rows()[0])
      .getAllByRole('cell')
      .map((td) => td.getAttribute('data-label'));
    expect(labels).toEqual(headers);
    expect(headers).toContain('How it was obtained');
  });

  it('paginates 20 per page', async () => {
    render(<PodSavingsTable pods={many} />);
    expect(rows()).toHaveLength(20);
    await userEvent.click(screen.getAllByRole('button', { name: 'Go to next page' })[0]);
    expect(rows()).toHaveLength(5);
  });

  it('sorts by startup time', async () => {
    render(<PodSavingsTable pods={many} />);
    await userEvent.click(screen.getByRole('button', { name: 'Startup' }));
    expect(rows()[0]).toHaveTextContent('pod-24');
    await userEvent.click(screen.getByRole('button', { name: 'Startup' }));
    expect(rows()[0]).toHaveTextContent('pod-00');
  });

  it('filters by pod name and shows an empty state', async () => {
    render(<PodSavingsTable pods={many} />);
    await userEvent.type(screen.getByPlaceholderText('Filter by pod'), 'pod-1');
    expect(rows()).toHaveLength(10);
    await userEvent.clear(screen.getByPlaceholderText('Filter by pod'));
    await userEvent.type(screen.getByPlaceholderText('Filter by pod'), 'nothing-like-this');
    expect(screen.getByText('No pods match')).toBeInTheDocument();
  });
});
