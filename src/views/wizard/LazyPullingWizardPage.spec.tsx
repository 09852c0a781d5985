import { k8sCreate, k8sDelete, k8sPatch } from '@openshift-console/dynamic-plugin-sdk';
import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router';

import { cluster } from '../../utils/fixtures/cluster';
import { workerLogLevelCtrcfg } from '../../utils/fixtures/containerRuntimeConfigs';
import { featureGateDefault } from '../../utils/fixtures/featureGates';
import { hubAbout, hubNodes } from '../../utils/fixtures/hub';
import { mockAccess, mockCluster, mockHub } from '../../utils/fixtures/sdkMocks';
import { ContainerRuntimeConfigModel } from '../../utils/models';
import LazyPullingWizardPage from './LazyPullingWizardPage';

const objects = cluster(hubNodes.items.map((n) => n.node));

const renderWizard = (query: string) =>
  render(
    <MemoryRouter initialEntries={[`/lazy-pulling/configure?${query}`]}>
      <LazyPullingWizardPage />
    </MemoryRouter>,
  );

const next = () => userEvent.click(screen.getByRole('button', { name: 'Next' }));

// user-event types key by key; on a loaded 2-core machine that takes a few seconds.
jest.setTimeout(30_000);

describe('LazyPullingWizardPage', () => {
  beforeEach(() => {
    jest.clearAllMocks();
    mockCluster(objects);
    mockHub({ about: hubAbout, nodes: hubNodes });
    mockAccess(true);
  });

  it('enables: validates the path, reviews the exact patch, sends it with the SDK', async () => {
    renderWizard('action=enable&pool=worker');
    expect(await screen.findByTestId('pick-pool-worker')).toBeChecked();
    await next();
    const path = screen.getByTestId('store-path');
    await userEvent.clear(path);
    await userEvent.type(path, '/var/lib/store:ref');
    expect(screen.getByTestId('store-path-help')).toHaveTextContent(
      'Use only letters, digits, /, ., _ and -.',
    );
    expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled();
    await userEvent.clear(path);
    await userEvent.type(path, '/var/lib/slipstream/store');
    await next();
    await next();
    expect(screen.getByTestId('change-yaml-worker')).toHaveTextContent(
      '# PATCH containerruntimeconfigs.machineconfiguration.openshift.io/set-log-level',
    );
    expect(screen.getByText('Nodes drain and reboot')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(k8sPatch).toHaveBeenCalledTimes(1));
    expect(k8sPatch).toHaveBeenCalledWith({
      model: ContainerRuntimeConfigModel,
      resource: workerLogLevelCtrcfg,
      data: [
        {
          op: 'add',
          path: '/spec/containerRuntimeConfig/additionalLayerStores',
          value: [{ path: '/var/lib/slipstream/store' }],
        },
      ],
    });
    expect(k8sCreate).not.toHaveBeenCalled();
    expect(await screen.findByText('Pool worker: Applied')).toBeInTheDocument();
  });

  it('creates a ctrcfg for a pool that has none', async () => {
    mockCluster(objects.filter((o) => o !== workerLogLevelCtrcfg));
    renderWizard('action=enable&pool=worker');
    await screen.findByTestId('pick-pool-worker');
    await next();
    await next();
    await next();
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(k8sCreate).toHaveBeenCalledTimes(1));
    expect(jest.mocked(k8sCreate).mock.calls[0][0]).toMatchObject({
      model: ContainerRuntimeConfigModel,
      data: { metadata: { name: 'slipstream-worker' } },
    });
  });

  it('enables a pool next to one that already has the store: only the new pool changes', async () => {
    renderWizard('action=enable&pool=worker');
    await userEvent.click(await screen.findByTestId('pick-pool-master'));
    await next();
    expect(screen.getByRole('button', { name: 'Next' })).toBeEnabled();
    await next();
    await next();
    expect(screen.getByText('Nothing to change for this pool.')).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(k8sPatch).toHaveBeenCalledTimes(1));
    expect(jest.mocked(k8sPatch).mock.calls[0][0]).toMatchObject({
      resource: workerLogLevelCtrcfg,
    });
    expect(k8sCreate).not.toHaveBeenCalled();
  });

  it('warns that the feature gate is off and blocks a custom pool without its label', async () => {
    mockCluster(objects.map((o) => (o.kind === 'FeatureGate' ? featureGateDefault : o)));
    renderWizard('action=enable&pool=infra');
    await screen.findByTestId('pick-pool-infra');
    await next();
    await next();
    await next();
    expect(
      screen.getByText('The AdditionalStorageConfig feature gate is not on'),
    ).toBeInTheDocument();
    expect(screen.getByText('Paused pools')).toBeInTheDocument();
    expect(screen.getByText('Cannot change this pool')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Apply' })).toBeDisabled();
  });

  it('disables by deleting the ctrcfg the wizard created', async () => {
    renderWizard('action=disable&pool=master');
    await screen.findByTestId('pick-pool-master');
    await next();
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(k8sDelete).toHaveBeenCalledTimes(1));
    expect(jest.mocked(k8sDelete).mock.calls[0][0]).toMatchObject({
      resource: { metadata: { name: 'slipstream-master' } },
    });
  });

  it('refuses users who may not change ctrcfgs', async () => {
    mockAccess(false);
    renderWizard('action=enable&pool=worker');
    expect(
      await screen.findByText('You may not create or patch ContainerRuntimeConfigs.'),
    ).toBeInTheDocument();
  });

  it('refuses to disable for users who may not delete the ctrcfg it may delete', async () => {
    mockAccess(({ verb }) => verb !== 'delete');
    renderWizard('action=disable&pool=master');
    expect(
      await screen.findByText('You may not patch or delete ContainerRuntimeConfigs.'),
    ).toBeInTheDocument();
  });
});
