import { render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';

import { cluster } from '../../utils/fixtures/cluster';
import { hubAbout, hubNodes } from '../../utils/fixtures/hub';
import { mockAccess, mockCluster, mockHub } from '../../utils/fixtures/sdkMocks';
import LazyPullingOverviewPage from './LazyPullingOverviewPage';

const renderPage = () =>
  render(
    <MemoryRouter>
      <LazyPullingOverviewPage />
    </MemoryRouter>,
  );

describe('LazyPullingOverviewPage', () => {
  beforeEach(() => {
    mockCluster(cluster(hubNodes.items.map((n) => n.node)));
    mockHub({ about: hubAbout, nodes: hubNodes });
    mockAccess(true);
  });

  it('shows every pool with state, rollout, agents and next step', async () => {
    renderPage();
    const worker = await screen.findByTestId('pool-row-worker');
    expect(within(worker).getByTestId('lazy-state-off')).toHaveTextContent('Off');
    expect(await within(worker).findByText('3 of 3 healthy')).toBeInTheDocument();
    expect(within(worker).getByTestId('next-step')).toHaveTextContent(
      'Ready: enable lazy pulling for this pool.',
    );
    const master = screen.getByTestId('pool-row-master');
    expect(within(master).getByTestId('lazy-state-on')).toBeInTheDocument();
    const infra = screen.getByTestId('pool-row-infra');
    expect(within(infra).getByText('Paused')).toBeInTheDocument();
    expect(within(infra).getByText('0 of 2 updated, 0 ready, 0 degraded')).toBeInTheDocument();
    expect(screen.getByText('Feature set: TechPreviewNoUpgrade')).toBeInTheDocument();
  });

  it('links the actions to the wizard, only for users allowed to change ctrcfgs', async () => {
    renderPage();
    expect(await screen.findByTestId('enable-worker')).toHaveAttribute(
      'href',
      '/lazy-pulling/configure?action=enable&pool=worker',
    );
    expect(screen.getByTestId('disable-master')).toHaveAttribute(
      'href',
      '/lazy-pulling/configure?action=disable&pool=master',
    );
  });

  it('hides the actions from other users', async () => {
    mockAccess(false);
    renderPage();
    await screen.findByTestId('pool-row-worker');
    expect(screen.queryByTestId('enable-worker')).not.toBeInTheDocument();
  });

  it('offers disabling only to users who may also delete the ctrcfg the wizard created', async () => {
    mockAccess(
      ({ verb, resource }) =>
        (resource === 'containerruntimeconfigs' || resource === 'machineconfigs') &&
        verb !== 'delete',
    );
    renderPage();
    expect(await screen.findByTestId('enable-worker')).toBeInTheDocument();
    expect(screen.queryByTestId('disable-master')).not.toBeInTheDocument();
  });

  it('says so when the hub does not answer', async () => {
    mockHub({});
    renderPage();
    expect(await screen.findByText('The Slipstream hub does not answer')).toBeInTheDocument();
    expect(screen.getAllByText('Unknown (hub unreachable)')).toHaveLength(3);
  });
});
