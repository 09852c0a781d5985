import { render, screen, within } from '@testing-library/react';
import { MemoryRouter } from 'react-router';

import { cluster } from '../../utils/fixtures/cluster';
import { hubAbout, hubNodes } from '../../utils/fixtures/hub';
import { masterStoreMachineConfig } from '../../utils/fixtures/machineConfigs';
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

  it('asks to repair a pool enabled without the MachineConfig that creates its store at boot', async () => {
    mockCluster(
      cluster(hubNodes.items.map((n) => n.node)).filter((o) => o !== masterStoreMachineConfig),
    );
    renderPage();
    const master = await screen.findByTestId('pool-row-master');
    expect(within(master).getByTestId('next-step')).toHaveTextContent(
      'No MachineConfig creates the store directory at boot, so a node that joins this pool cannot start CRI-O.',
    );
    // Repair reopens the enable wizard: its Review then holds only the MachineConfig.
    expect(within(master).getByTestId('repair-master')).toHaveAttribute(
      'href',
      '/lazy-pulling/configure?action=enable&pool=master',
    );
    expect(within(master).getByTestId('disable-master')).toBeInTheDocument();
    expect(within(screen.getByTestId('pool-row-worker')).queryByTestId('repair-worker')).toBeNull();
  });

  it('asks for no repair where the MachineConfig is in place', async () => {
    renderPage();
    const master = await screen.findByTestId('pool-row-master');
    expect(within(master).queryByTestId('repair-master')).toBeNull();
    expect(within(master).getByTestId('next-step')).not.toHaveTextContent('MachineConfig');
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
