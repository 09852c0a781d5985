import { k8sCreate, k8sDelete, k8sPatch } from '@openshift-console/dynamic-plugin-sdk';
import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { MemoryRouter } from 'react-router';

import { agentConfigMap } from '../../utils/fixtures/agentConfigMap';
import { clone } from '../../utils/fixtures/clone';
import { cluster } from '../../utils/fixtures/cluster';
import { workerLogLevelCtrcfg } from '../../utils/fixtures/containerRuntimeConfigs';
import { featureGateDefault } from '../../utils/fixtures/featureGates';
import { hubAbout, hubNodes } from '../../utils/fixtures/hub';
import { workerPool } from '../../utils/fixtures/machineConfigPools';
import { masterStoreMachineConfig } from '../../utils/fixtures/machineConfigs';
import { mockAccess, mockCluster, mockHub } from '../../utils/fixtures/sdkMocks';
import { fromDataUrl } from '../../utils/machineconfig/dataUrl';
import { ContainerRuntimeConfigModel, MachineConfigModel } from '../../utils/models';
import type { MachineConfig } from '../../utils/types/k8s';
import LazyPullingWizardPage from './LazyPullingWizardPage';

const objects = cluster(hubNodes.items.map((n) => n.node));

const renderWizard = (query: string) =>
  render(
    <MemoryRouter initialEntries={[`/lazy-pulling/configure?${query}`]}>
      <LazyPullingWizardPage />
    </MemoryRouter>,
  );

const next = () => userEvent.click(screen.getByRole('button', { name: 'Next' }));
/** A step's entry in the wizard's step list. */
const navItem = (name: string) =>
  within(screen.getByRole('navigation', { name: 'Steps' })).getByRole('button', { name });
/** The order in which two SDK calls were made (jest counts every mock call). */
const order = (mock: unknown, call = 0) => (mock as jest.Mock).mock.invocationCallOrder[call];
const noRequestSent = () => {
  expect(k8sPatch).not.toHaveBeenCalled();
  expect(k8sCreate).not.toHaveBeenCalled();
  expect(k8sDelete).not.toHaveBeenCalled();
};

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
        { op: 'test', path: '/metadata/resourceVersion', value: '2790034' },
        {
          op: 'add',
          path: '/spec/containerRuntimeConfig/additionalLayerStores',
          value: [{ path: '/var/lib/slipstream/store' }],
        },
        {
          op: 'add',
          path: '/metadata/annotations/slipstream.io~1layer-store',
          value: '/var/lib/slipstream/store',
        },
      ],
    });
    // The store MachineConfig first, so that the directory exists before storage.conf lists it.
    expect(k8sCreate).toHaveBeenCalledTimes(1);
    const { model, data } = jest.mocked(k8sCreate).mock.calls[0][0] as {
      model: unknown;
      data: MachineConfig;
    };
    expect(model).toBe(MachineConfigModel);
    expect(data.metadata).toEqual({
      name: '99-worker-slipstream-store',
      labels: {
        'machineconfiguration.openshift.io/role': 'worker',
        'slipstream.io/created-by': 'slipstream-console',
      },
      annotations: { 'slipstream.io/layer-store': '/var/lib/slipstream/store' },
    });
    expect(fromDataUrl(data.spec.config?.storage?.files?.[0].contents?.source)).toBe(
      'd /var/lib/slipstream/store 0755 root root -\n',
    );
    expect(order(k8sCreate)).toBeLessThan(order(k8sPatch));
    expect(await screen.findByText('Pool worker: Applied')).toBeInTheDocument();
    expect(
      screen.getByText('MachineConfig 99-worker-slipstream-store: Applied'),
    ).toBeInTheDocument();
  });

  it('reviews the store MachineConfig and who else it reaches', async () => {
    renderWizard('action=enable&pool=worker');
    await screen.findByTestId('pick-pool-worker');
    await next();
    await next();
    await next();
    expect(screen.getByTestId('machineconfig-why')).toHaveTextContent(
      'CRI-O cannot start while a layer store in /etc/containers/storage.conf is missing',
    );
    const yaml = screen.getByTestId('machineconfig-yaml-worker');
    expect(yaml).toHaveTextContent('# CREATE machineconfigs.machineconfiguration.openshift.io');
    expect(yaml).toHaveTextContent('# d /var/lib/slipstream/store 0755 root root -');
    // The custom pool infra selects role In [worker, infra]: it picks the worker's MachineConfig.
    expect(screen.getByTestId('machineconfig-also-affects-worker')).toHaveTextContent(
      'Pools infra get the same change and reboot too.',
    );
  });

  it('gives a pool enabled before without a store MachineConfig the missing one', async () => {
    mockCluster(objects.filter((o) => o !== masterStoreMachineConfig));
    renderWizard('action=enable&pool=master');
    await screen.findByTestId('pick-pool-master');
    await next();
    await next();
    await next();
    expect(screen.getByText('Nothing to change for this pool.')).toBeInTheDocument();
    expect(screen.getByTestId('machineconfig-yaml-master')).toHaveTextContent(
      'name: 99-master-slipstream-store',
    );
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(k8sCreate).toHaveBeenCalledTimes(1));
    expect(jest.mocked(k8sCreate).mock.calls[0][0]).toMatchObject({
      model: MachineConfigModel,
      data: { metadata: { labels: { 'machineconfiguration.openshift.io/role': 'master' } } },
    });
    expect(k8sPatch).not.toHaveBeenCalled();
  });

  it('adds no store when its MachineConfig could not be created', async () => {
    jest
      .mocked(k8sCreate)
      .mockRejectedValueOnce(Object.assign(new Error('admission webhook denied'), { code: 403 }));
    renderWizard('action=enable&pool=worker');
    await screen.findByTestId('pick-pool-worker');
    await next();
    await next();
    await next();
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    expect(await screen.findByText('Pool worker: Not sent')).toBeInTheDocument();
    expect(screen.getByTestId('result-machineconfig-worker')).toHaveTextContent(
      'admission webhook denied',
    );
    expect(k8sPatch).not.toHaveBeenCalled();
  });

  it('blocks a pool whose machineConfigSelector no labels satisfy', async () => {
    const unselectable = clone(workerPool);
    unselectable.spec.machineConfigSelector = {
      matchExpressions: [
        { key: 'machineconfiguration.openshift.io/role', operator: 'NotIn', values: ['master'] },
      ],
    };
    mockCluster(objects.map((o) => (o === workerPool ? unselectable : o)));
    renderWizard('action=enable&pool=worker');
    await screen.findByTestId('pick-pool-worker');
    await next();
    await next();
    await next();
    expect(screen.getByText(/No labels satisfy the machineConfigSelector/)).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Apply' })).toBeDisabled();
  });

  it('creates a ctrcfg for a pool that has none', async () => {
    mockCluster(objects.filter((o) => o !== workerLogLevelCtrcfg));
    renderWizard('action=enable&pool=worker');
    await screen.findByTestId('pick-pool-worker');
    await next();
    await next();
    await next();
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(k8sCreate).toHaveBeenCalledTimes(2));
    expect(jest.mocked(k8sCreate).mock.calls[0][0]).toMatchObject({
      model: MachineConfigModel,
      data: { metadata: { name: '99-worker-slipstream-store' } },
    });
    expect(jest.mocked(k8sCreate).mock.calls[1][0]).toMatchObject({
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
    expect(
      screen.getByText('The MachineConfig 99-master-slipstream-store is in place.'),
    ).toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(k8sPatch).toHaveBeenCalledTimes(1));
    expect(jest.mocked(k8sPatch).mock.calls[0][0]).toMatchObject({
      resource: workerLogLevelCtrcfg,
    });
    // Only the worker's store MachineConfig is new.
    expect(k8sCreate).toHaveBeenCalledTimes(1);
    expect(jest.mocked(k8sCreate).mock.calls[0][0]).toMatchObject({
      data: { metadata: { name: '99-worker-slipstream-store' } },
    });
  });

  /** Opens the enable wizard for `pool` with the feature gate off and goes to its Review step. */
  const reviewWithGateOff = async (pool: string) => {
    mockCluster(objects.map((o) => (o.kind === 'FeatureGate' ? featureGateDefault : o)));
    renderWizard(`action=enable&pool=${pool}`);
    await screen.findByTestId(`pick-pool-${pool}`);
    await next();
    await next();
    await next();
  };

  it('warns that the feature gate is off and blocks a custom pool without its label', async () => {
    await reviewWithGateOff('infra');
    expect(
      screen.getByText('The AdditionalStorageConfig feature gate is not on'),
    ).toBeInTheDocument();
    expect(screen.getByText('Paused pools')).toBeInTheDocument();
    expect(screen.getByText('Cannot change this pool')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Apply' })).toBeDisabled();
  });

  it('disables by deleting the ctrcfg the wizard created, then its store MachineConfig', async () => {
    renderWizard('action=disable&pool=master');
    await screen.findByTestId('pick-pool-master');
    await next();
    expect(screen.getByTestId('machineconfig-yaml-master')).toHaveTextContent(
      '# DELETE machineconfigs.machineconfiguration.openshift.io/99-master-slipstream-store',
    );
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(k8sDelete).toHaveBeenCalledTimes(2));
    expect(jest.mocked(k8sDelete).mock.calls[0][0]).toMatchObject({
      model: ContainerRuntimeConfigModel,
      resource: { metadata: { name: 'slipstream-master' } },
    });
    expect(jest.mocked(k8sDelete).mock.calls[1][0]).toMatchObject({
      model: MachineConfigModel,
      resource: { metadata: { name: '99-master-slipstream-store' } },
      json: {
        preconditions: {
          uid: masterStoreMachineConfig.metadata?.uid,
          resourceVersion: masterStoreMachineConfig.metadata?.resourceVersion,
        },
      },
    });
  });

  it('keeps the store MachineConfig when the ctrcfg change failed', async () => {
    jest
      .mocked(k8sDelete)
      .mockRejectedValueOnce(
        Object.assign(new Error('the object has been modified'), { code: 409 }),
      );
    renderWizard('action=disable&pool=master');
    await screen.findByTestId('pick-pool-master');
    await next();
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    expect(
      await screen.findByText('MachineConfig 99-master-slipstream-store: Not sent'),
    ).toBeInTheDocument();
    expect(k8sDelete).toHaveBeenCalledTimes(1);
  });

  it('opens the steps in order only: the step list cannot skip the checks or apply', async () => {
    renderWizard('action=enable&pool=worker');
    await screen.findByTestId('pick-pool-worker');
    for (const later of ['Store path', 'Agent options', 'Review', 'Progress']) {
      expect(navItem(later)).toBeDisabled();
    }
    await userEvent.click(navItem('Progress'));
    await next();
    // Visiting the Review step sends nothing either; only Apply does.
    await next();
    await next();
    expect(screen.getByTestId('review')).toBeInTheDocument();
    noRequestSent();
    expect(navItem('Progress')).toBeDisabled();
  });

  it('keeps Apply disabled when a step became invalid after Review was visited', async () => {
    renderWizard('action=enable&pool=worker');
    await screen.findByTestId('pick-pool-worker');
    await next();
    await next();
    await next();
    expect(screen.getByRole('button', { name: 'Apply' })).toBeEnabled();
    await userEvent.click(navItem('Store path'));
    const path = screen.getByTestId('store-path');
    await userEvent.clear(path);
    await userEvent.type(path, 'relative path:bad');
    // The later steps close while this one is invalid…
    expect(navItem('Review')).toBeDisabled();
    await userEvent.click(navItem('Review'));
    expect(screen.queryByTestId('review')).not.toBeInTheDocument();
    noRequestSent();
  });

  it('never writes invalid agent options', async () => {
    renderWizard('action=enable&pool=worker');
    await screen.findByTestId('pick-pool-worker');
    await next();
    await next();
    await next();
    await userEvent.click(navItem('Agent options'));
    const cacheSize = screen.getByTestId('cache-size');
    await userEvent.clear(cacheSize);
    await userEvent.type(cacheSize, 'lots');
    expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled();
    expect(navItem('Review')).toBeDisabled();
    await userEvent.click(navItem('Review'));
    noRequestSent();
  });

  it('shows a malformed agent.yaml as an error, leaves it alone, and still enables', async () => {
    const broken = clone(agentConfigMap);
    broken.data = {
      'agent.yaml':
        'mountpoint: /var/lib/slipstream/store\ncacheSize: [20Gi\nprefetch: {enabled: true\n',
    };
    mockCluster(objects.map((o) => (o.kind === 'ConfigMap' ? broken : o)));
    renderWizard('action=enable&pool=worker');
    await screen.findByTestId('pick-pool-worker');
    await next();
    await next();
    expect(screen.getByTestId('agent-config-error')).toHaveTextContent(
      'The agent configuration cannot be read',
    );
    expect(screen.getByTestId('cache-size')).toBeDisabled();
    await next();
    expect(screen.queryByTestId('agent-config-yaml')).not.toBeInTheDocument();
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    await waitFor(() => expect(k8sPatch).toHaveBeenCalledTimes(1));
    expect(jest.mocked(k8sPatch).mock.calls[0][0]).toMatchObject({
      model: ContainerRuntimeConfigModel,
    });
  });

  it('disables Apply, and says why, while the feature gate is off', async () => {
    await reviewWithGateOff('worker');
    expect(screen.getByRole('button', { name: 'Apply' })).toBeDisabled();
    expect(screen.getByTestId('apply-blockers')).toHaveTextContent(
      'The AdditionalStorageConfig feature gate is off',
    );
  });

  it('says so when the ctrcfg changed after the page read it', async () => {
    jest
      .mocked(k8sPatch)
      .mockRejectedValueOnce(
        Object.assign(new Error('testing value /metadata/resourceVersion failed'), { code: 422 }),
      );
    renderWizard('action=enable&pool=worker');
    await screen.findByTestId('pick-pool-worker');
    await next();
    await next();
    await next();
    await userEvent.click(screen.getByRole('button', { name: 'Apply' }));
    expect(await screen.findByTestId('result-worker')).toHaveTextContent(
      'It was changed by someone else after this page read it',
    );
  });

  it('preselects no pool for a ?pool= that names none', async () => {
    renderWizard('action=enable&pool=doesnotexist');
    expect(await screen.findByText('There is no pool named doesnotexist')).toBeInTheDocument();
    expect(screen.getByTestId('pick-pool-worker')).not.toBeChecked();
    expect(screen.getByRole('button', { name: 'Next' })).toBeDisabled();
    await act(() => Promise.resolve());
  });

  it('refuses users who may not create the store MachineConfig', async () => {
    mockAccess(({ resource }) => resource !== 'machineconfigs');
    renderWizard('action=enable&pool=worker');
    expect(
      await screen.findByText(
        'You may not create or patch ContainerRuntimeConfigs and MachineConfigs.',
      ),
    ).toBeInTheDocument();
    noRequestSent();
  });

  it('refuses users who may not change ctrcfgs', async () => {
    mockAccess(false);
    renderWizard('action=enable&pool=worker');
    expect(
      await screen.findByText(
        'You may not create or patch ContainerRuntimeConfigs and MachineConfigs.',
      ),
    ).toBeInTheDocument();
  });

  it('refuses to disable for users who may not delete the ctrcfg it may delete', async () => {
    mockAccess(({ verb }) => verb !== 'delete');
    renderWizard('action=disable&pool=master');
    expect(
      await screen.findByText(
        'You may not patch or delete ContainerRuntimeConfigs, or delete MachineConfigs.',
      ),
    ).toBeInTheDocument();
  });
});
