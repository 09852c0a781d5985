import { clone } from '../fixtures/clone';
import { infraPool, masterPool, workerPool } from '../fixtures/machineConfigPools';
import {
  masterStoreMachineConfig,
  workerGeneratedContainerRuntimeMachineConfig,
} from '../fixtures/machineConfigs';
import { fromDataUrl } from './dataUrl';
import {
  isSlipstreamMachineConfig,
  isStoreFileFor,
  poolStoreMachineConfig,
  storeDirectoriesAtBoot,
  storeDirectoryOf,
  storeFile,
  storeMachineConfig,
  storeMachineConfigName,
  storeTmpfilesText,
} from './storeMachineConfig';

const STORE = '/var/lib/slipstream/store';
const ROLE = 'machineconfiguration.openshift.io/role';

describe('storeMachineConfig', () => {
  it('is a MachineConfig whose Ignition file makes tmpfiles create the store at boot', () => {
    const mc = storeMachineConfig('worker', STORE, { [ROLE]: 'worker' });
    expect(mc).toEqual({
      apiVersion: 'machineconfiguration.openshift.io/v1',
      kind: 'MachineConfig',
      metadata: {
        name: '99-worker-slipstream-store',
        labels: { [ROLE]: 'worker', 'slipstream.io/created-by': 'slipstream-console' },
        annotations: { 'slipstream.io/layer-store': STORE },
      },
      spec: {
        config: {
          ignition: { version: '3.2.0' },
          storage: {
            files: [
              {
                path: '/etc/tmpfiles.d/slipstream-store.conf',
                mode: 420,
                overwrite: true,
                contents: {
                  source: 'data:,d%20%2Fvar%2Flib%2Fslipstream%2Fstore%200755%20root%20root%20-%0A',
                },
              },
            ],
          },
        },
      },
    });
    expect(fromDataUrl(mc.spec.config?.storage?.files?.[0].contents?.source)).toBe(
      'd /var/lib/slipstream/store 0755 root root -\n',
    );
  });

  it('has the shape of the recorded one the wizard created for master', () => {
    const built = storeMachineConfig('master', STORE, { [ROLE]: 'master' });
    expect(masterStoreMachineConfig).toMatchObject(built);
    expect(storeDirectoryOf(masterStoreMachineConfig)).toBe(STORE);
  });

  it('is named after its pool', () => {
    expect(storeMachineConfigName('infra')).toBe('99-infra-slipstream-store');
  });
});

describe('reading store MachineConfigs', () => {
  it('finds the pool’s by name and created-by label only', () => {
    const mcs = [workerGeneratedContainerRuntimeMachineConfig, masterStoreMachineConfig];
    expect(poolStoreMachineConfig('master', mcs)).toBe(masterStoreMachineConfig);
    expect(poolStoreMachineConfig('worker', mcs)).toBeUndefined();
    const unlabelled = clone(masterStoreMachineConfig);
    unlabelled.metadata = { ...unlabelled.metadata, labels: { [ROLE]: 'master' } };
    expect(isSlipstreamMachineConfig(unlabelled)).toBe(false);
    expect(poolStoreMachineConfig('master', [unlabelled])).toBeUndefined();
  });

  it('tells the directory a MachineConfig creates, if any', () => {
    expect(storeDirectoryOf(workerGeneratedContainerRuntimeMachineConfig)).toBeUndefined();
    expect(storeDirectoryOf(storeMachineConfig('w', '/srv/store', {}))).toBe('/srv/store');
  });

  it('accepts the file only when it is exactly the one for the path', () => {
    expect(isStoreFileFor(storeFile(STORE), STORE)).toBe(true);
    expect(isStoreFileFor(storeFile(STORE), '/srv/store')).toBe(false);
    expect(isStoreFileFor({ ...storeFile(STORE), mode: 0o600 }, STORE)).toBe(false);
    expect(isStoreFileFor({ ...storeFile(STORE), overwrite: false }, STORE)).toBe(false);
    expect(isStoreFileFor(undefined, STORE)).toBe(false);
    // The same text in base64 is the same file.
    const base64 = {
      ...storeFile(STORE),
      contents: { source: `data:;base64,${btoa(storeTmpfilesText(STORE))}` },
    };
    expect(isStoreFileFor(base64, STORE)).toBe(true);
  });
});

describe('storeDirectoriesAtBoot', () => {
  const workerStore = storeMachineConfig('worker', STORE, {
    [ROLE]: 'worker',
    'slipstream.io/created-by': 'slipstream-console',
  });

  it('holds when a store MachineConfig the pool selects creates each listed store', () => {
    expect(storeDirectoriesAtBoot(masterPool, [masterStoreMachineConfig], [STORE])).toBe(true);
    expect(storeDirectoriesAtBoot(masterPool, [masterStoreMachineConfig], [`${STORE}/`])).toBe(
      true,
    );
    // infra selects role In [worker, infra]: the worker's MachineConfig reaches its nodes too.
    expect(storeDirectoriesAtBoot(infraPool, [workerStore], [STORE])).toBe(true);
    // Nothing listed, nothing needed.
    expect(storeDirectoriesAtBoot(workerPool, [], [])).toBe(true);
  });

  it('fails for another pool’s, another directory, or one the wizard did not create', () => {
    expect(storeDirectoriesAtBoot(workerPool, [masterStoreMachineConfig], [STORE])).toBe(false);
    expect(storeDirectoriesAtBoot(masterPool, [masterStoreMachineConfig], ['/srv/store'])).toBe(
      false,
    );
    expect(
      storeDirectoriesAtBoot(masterPool, [masterStoreMachineConfig], [STORE, '/srv/store']),
    ).toBe(false);
    const unlabelled = clone(masterStoreMachineConfig);
    unlabelled.metadata = { ...unlabelled.metadata, labels: { [ROLE]: 'master' } };
    expect(storeDirectoriesAtBoot(masterPool, [unlabelled], [STORE])).toBe(false);
    expect(
      storeDirectoriesAtBoot(masterPool, [workerGeneratedContainerRuntimeMachineConfig], [STORE]),
    ).toBe(false);
  });
});
