// Renders charts/slipstream (default values and every ci/*-values.yaml variant) with Helm's
// template engine (Go text/template + sprig + Helm's functions) and checks what an admin relies
// on: valid objects, values checked by values.schema.json, the agent's privileged setup and
// mount propagation, the hub's RBAC, the console plugin wiring, and no node configuration.
import { execFile } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';

import { resolveAgentConfig } from '../../src/agent/config.ts';
import { mountsAt, runMount } from '../../src/fuse/mount.ts';
import { resolveHubConfig } from '../../src/hub/config.ts';
import { makeTempDir, removeDir } from '../support/tmp.ts';
import { checkAgainstApiModel, isBuiltIn } from './k8s-models.ts';
import { knownKinds, validateObject } from './k8s-schemas.ts';
import { chartDir, createRenderer, find, RenderError, repoRoot } from './render.ts';
import type { K8sObject, Renderer, Rendered } from './render.ts';

const run = promisify(execFile);

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call, @typescript-eslint/no-unsafe-return, @typescript-eslint/no-unsafe-argument --
   rendered manifests are untyped JSON, walked and compared as such; their shape is checked by
   the strict schemas in k8s-schemas.ts */
type Any = any;

const NODE_CONFIG_KINDS = [
  'MachineConfig',
  'ContainerRuntimeConfig',
  'KubeletConfig',
  'MachineConfigPool',
  'MachineConfiguration',
];

// The chart's defaults plus every ci/*-values.yaml (chart-testing's convention for variants),
// read before the tests are collected so that each variant gets its own tests.
const variants: Record<string, Record<string, unknown>> = { default: {} };
for (const file of (await readdir(join(chartDir, 'ci'))).sort()) {
  const text = await readFile(join(chartDir, 'ci', file), 'utf8');
  variants[file] = parseYaml(text) as Record<string, unknown>;
}
const schema = JSON.parse(await readFile(join(chartDir, 'values.schema.json'), 'utf8')) as object;
const validateValues = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(
  schema,
);

let renderer: Renderer;
beforeAll(async () => {
  renderer = await createRenderer();
}, 120_000);

afterAll(async () => {
  await renderer?.cleanup();
});

const schemaErrors = (values: unknown): string[] =>
  validateValues(values)
    ? []
    : (validateValues.errors ?? []).map(
        (e) => `${e.instancePath} ${e.message} ${JSON.stringify(e.params)}`,
      );

const podSpec = (o: K8sObject): Any => (o.spec as Any).template.spec;
const container = (o: K8sObject, name: string): Any => {
  const spec = podSpec(o);
  const found = [...(spec.initContainers ?? []), ...spec.containers].find(
    (c: Any) => c.name === name,
  );
  if (!found) throw new Error(`${o.kind}/${o.metadata.name} has no container ${name}`);
  return found;
};
const volume = (o: K8sObject, name: string): Any =>
  podSpec(o).volumes.find((v: Any) => v.name === name);

describe('every variant', () => {
  it('has variants to render', () => {
    expect(Object.keys(variants).length).toBeGreaterThanOrEqual(5);
  });

  it.each(Object.keys(variants))('%s: merged values satisfy values.schema.json', async (name) => {
    const rendered = await renderer.render(variants[name]);
    expect(schemaErrors(rendered.values)).toEqual([]);
  });

  it.each(Object.keys(variants))('%s: every object is valid for its API', async (name) => {
    const { objects } = await renderer.render(variants[name], { namespace: 'lazy-pull' });
    expect(objects.length).toBeGreaterThan(10);
    const problems = objects.flatMap((o) =>
      validateObject(o).map((p) => `${o.metadata.name}: ${p}`),
    );
    expect(problems).toEqual([]);
    const clusterScoped = new Set([
      'ClusterRole',
      'ClusterRoleBinding',
      'SecurityContextConstraints',
      'ConsolePlugin',
    ]);
    for (const o of objects) {
      expect([o.kind, o.metadata.namespace]).toEqual([
        o.kind,
        clusterScoped.has(o.kind) ? undefined : 'lazy-pull',
      ]);
    }
    const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it.each(Object.keys(variants))(
    '%s: every built-in object has only fields of the Kubernetes API models',
    async (name) => {
      const { objects } = await renderer.render(variants[name]);
      const builtIn = objects.filter((o) => isBuiltIn(o.apiVersion));
      // Everything but the SCC, the ConsolePlugin and the ServiceMonitors (k8s-schemas.ts).
      expect(builtIn.length).toBeGreaterThan(objects.length - 5);
      const problems = builtIn.flatMap((o) =>
        checkAgainstApiModel(o).map((p) => `${o.metadata.name}: ${p}`),
      );
      expect(problems).toEqual([]);
    },
  );

  it.each(Object.keys(variants))(
    '%s: never configures nodes (that is the wizard’s step)',
    async (name) => {
      const { objects } = await renderer.render(variants[name]);
      expect(objects.filter((o) => NODE_CONFIG_KINDS.includes(o.kind))).toEqual([]);
      expect(objects.filter((o) => o.apiVersion.startsWith('machineconfiguration.'))).toEqual([]);
      // Host paths are written only under the agent's state dir (the store, the cache).
      const agent = find(objects, 'DaemonSet', 'slipstream-agent');
      const stateDir = (rendered(objects).agent as Any).stateDir as string;
      for (const c of [...podSpec(agent).initContainers, ...podSpec(agent).containers]) {
        for (const m of c.volumeMounts as Any[]) {
          const source = volume(agent, m.name);
          if (!source.hostPath || source.hostPath.path === '/dev/fuse') continue;
          if (source.hostPath.path === stateDir) continue;
          expect([m.mountPath, m.readOnly]).toEqual([m.mountPath, true]);
        }
      }
    },
  );
});

/** The binding of the same name grants the role to the platform Prometheus only. */
function expectBoundToPlatformPrometheus(
  objects: K8sObject[],
  roleKind: 'Role' | 'ClusterRole',
  name: string,
): void {
  const binding = find(objects, `${roleKind}Binding`, name) as Any;
  expect(binding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: roleKind, name });
  expect(binding.subjects).toEqual([
    { kind: 'ServiceAccount', name: 'prometheus-k8s', namespace: 'openshift-monitoring' },
  ]);
}

/** The agent's settings as the chart rendered them into the ConfigMap. */
function rendered(objects: K8sObject[]): { agent: Record<string, unknown> } {
  const cm = find(objects, 'ConfigMap', 'slipstream-agent') as Any;
  return { agent: parseYaml(cm.data['agent.yaml'] as string) as Record<string, unknown> };
}

describe('values.schema.json', () => {
  it('accepts the chart defaults and every ci values file', async () => {
    const defaults = parseYaml(await readFile(join(chartDir, 'values.yaml'), 'utf8'));
    expect(schemaErrors(defaults)).toEqual([]);
    for (const [name, values] of Object.entries(variants)) {
      const merged = (await renderer.render(values)).values;
      expect([name, schemaErrors(merged)]).toEqual([name, []]);
    }
  });

  it.each([
    ['a misspelled agent key', { agent: { cacheSzie: '1Gi' } }, 'cacheSzie'],
    ['a misspelled top-level key', { agnet: {} }, 'agnet'],
    ['a cache size without a unit grammar', { agent: { cacheSize: '20 gigs' } }, 'cacheSize'],
    [
      'a store path with a colon (ContainerRuntimeConfig refuses it)',
      { agent: { stateDir: '/var/lib/a:b' } },
      'stateDir',
    ],
    [
      'an unknown update strategy',
      { agent: { updateStrategy: { type: 'Rolling' } } },
      'updateStrategy',
    ],
    [
      'a numeric cache size (Helm would print a float)',
      { agent: { cacheSize: 21474836480 } },
      'cacheSize',
    ],
    [
      'a free share the cache could never meet',
      { agent: { cacheMinFreePercent: 95 } },
      'cacheMinFreePercent',
    ],
    ['a bad digest', { images: { backend: { digest: 'sha256:xyz' } } }, 'digest'],
    ['a pool name that is no label', { agent: { pools: ['Worker Pool'] } }, 'pools'],
    [
      "a state directory with '//' (ContainerRuntimeConfig refuses the store path)",
      { agent: { stateDir: '/var//lib/slipstream' } },
      'stateDir',
    ],
    [
      'a hub volume many nodes write (SQLite on a network file system)',
      { hub: { persistence: { accessModes: ['ReadWriteMany'] } } },
      'accessModes',
    ],
    [
      'no agent affinity at all (--set agent.affinity=null)',
      { agent: { affinity: null } },
      'affinity',
    ],
  ])('rejects %s', async (_what, values, field) => {
    const merged = (await renderer.render(values)).values;
    const errors = schemaErrors(merged).join('\n');
    expect(errors).toContain(field);
  });
});

describe('Helm value semantics', () => {
  it('merges user values over the defaults and deletes a default set to null', async () => {
    const { objects, values } = await renderer.render({
      agent: { resources: { limits: null, requests: { cpu: '250m' } } },
    });
    expect((values.agent as Any).resources).toEqual({ requests: { cpu: '250m', memory: '256Mi' } });
    const agent = find(objects, 'DaemonSet', 'slipstream-agent');
    expect(container(agent, 'agent').resources).toEqual({
      requests: { cpu: '250m', memory: '256Mi' },
    });
  });
});

describe('rendering errors', () => {
  it('refuses clusters older than OpenShift 4.22 (Kubernetes 1.35)', async () => {
    await expect(renderer.render({}, { kubeVersion: 'v1.34.2' })).rejects.toThrow(
      /incompatible with Kubernetes v1.34.2/,
    );
    await expect(renderer.render({}, { kubeVersion: 'v1.35.1' })).resolves.toBeDefined();
  });

  it('requires an image repository', async () => {
    await expect(renderer.render({ images: { backend: { repository: '' } } })).rejects.toThrow(
      /images\.backend\.repository is required/,
    );
  });

  it('refuses node affinity together with pool selection', async () => {
    const values = {
      agent: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: {} } } },
    };
    await expect(renderer.render(values)).rejects.toThrow(RenderError);
    await expect(renderer.render(values)).rejects.toThrow(/cannot be combined with agent.pools/);
  });
});

describe('agent DaemonSet', () => {
  let out: Rendered;
  let agent: K8sObject;
  beforeAll(async () => {
    out = await renderer.render();
    agent = find(out.objects, 'DaemonSet', 'slipstream-agent');
  });

  it('runs privileged as root, node-critical, under its own ServiceAccount', () => {
    const c = container(agent, 'agent');
    expect(c.securityContext).toMatchObject({ privileged: true, runAsUser: 0 });
    expect(podSpec(agent).priorityClassName).toBe('system-node-critical');
    expect(podSpec(agent).serviceAccountName).toBe('slipstream-agent');
    expect(c.command).toEqual(['slipstream']);
    expect(c.args).toEqual(['agent', '--config', '/etc/slipstream/agent.yaml']);
    expect(c.env).toContainEqual({
      name: 'NODE_NAME',
      valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } },
    });
  });

  it('shares /var/lib/slipstream with the host with Bidirectional propagation', () => {
    expect(volume(agent, 'state')).toEqual({
      name: 'state',
      hostPath: { path: '/var/lib/slipstream', type: 'DirectoryOrCreate' },
    });
    for (const name of ['agent', 'prepare-store']) {
      expect(container(agent, name).volumeMounts).toContainEqual({
        name: 'state',
        mountPath: '/var/lib/slipstream',
        mountPropagation: 'Bidirectional',
      });
      // The kubelet allows Bidirectional only in privileged containers.
      expect(container(agent, name).securityContext.privileged).toBe(true);
    }
  });

  it('gets /dev/fuse from the host', () => {
    expect(volume(agent, 'dev-fuse')).toEqual({
      name: 'dev-fuse',
      hostPath: { path: '/dev/fuse', type: 'CharDevice' },
    });
    expect(container(agent, 'agent').volumeMounts).toContainEqual({
      name: 'dev-fuse',
      mountPath: '/dev/fuse',
    });
  });

  it('reads the node registry configuration and pull credentials read-only', () => {
    const expectReadOnlyHostMount = (name: string, path: string, type: string) => {
      expect(container(agent, 'agent').volumeMounts).toContainEqual({
        name,
        mountPath: path,
        readOnly: true,
      });
      expect(volume(agent, name).hostPath).toEqual({ path, type });
    };
    expectReadOnlyHostMount('registries', '/etc/containers', 'Directory');
    expectReadOnlyHostMount('auth-0', '/var/lib/kubelet/config.json', 'File');
    expectReadOnlyHostMount('certs-0', '/etc/docker/certs.d', 'DirectoryOrCreate');
    // The node's CA bundle joins the agent's roots, so it trusts the registries CRI-O trusts.
    expect(container(agent, 'agent').volumeMounts).toContainEqual({
      name: 'node-ca',
      mountPath: '/etc/pki/slipstream/node-ca-bundle.pem',
      readOnly: true,
    });
    expect(volume(agent, 'node-ca').hostPath).toEqual({
      path: '/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem',
      type: 'File',
    });
    expect(container(agent, 'agent').env).toContainEqual({
      name: 'NODE_EXTRA_CA_CERTS',
      value: '/etc/pki/slipstream/node-ca-bundle.pem',
    });
  });

  it('probes the agent health endpoints on its metrics port', () => {
    const c = container(agent, 'agent');
    expect(c.ports).toEqual([{ name: 'metrics', containerPort: 9464, protocol: 'TCP' }]);
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'metrics', scheme: 'HTTP' });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'metrics', scheme: 'HTTP' });
    expect(c.startupProbe.httpGet.path).toBe('/healthz');
    // A liveness restart breaks running lazy containers: at least two minutes of failures first.
    expect(c.livenessProbe.periodSeconds * c.livenessProbe.failureThreshold).toBeGreaterThanOrEqual(
      120,
    );
  });

  it('unmounts the store before it stops, and keeps the cache', () => {
    const command = container(agent, 'agent').lifecycle.preStop.exec.command as string[];
    expect(command.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    // --no-canonicalize: umount(8) would otherwise stat the path through the FUSE mount, and
    // wait as long as a wedged agent does not answer.
    expect(command[2]).toContain('umount -l --no-canonicalize /var/lib/slipstream/store');
    expect(command[2]).not.toMatch(/\brm\b/);
  });

  it('is not restarted by upgrades or configuration changes', () => {
    expect((agent.spec as Any).updateStrategy).toEqual({ type: 'OnDelete' });
    const annotations = (agent.spec as Any).template.metadata.annotations ?? {};
    expect(Object.keys(annotations).filter((k) => k.startsWith('checksum/'))).toEqual([]);
    // Mounted as a directory: subPath mounts never see ConfigMap updates.
    expect(container(agent, 'agent').volumeMounts).toContainEqual({
      name: 'config',
      mountPath: '/etc/slipstream',
      readOnly: true,
    });
  });

  it('runs on the host network with cluster DNS, on the worker pool by default', () => {
    expect(podSpec(agent).hostNetwork).toBe(true);
    expect(podSpec(agent).dnsPolicy).toBe('ClusterFirstWithHostNet');
    expect(
      podSpec(agent).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution,
    ).toEqual({
      nodeSelectorTerms: [
        { matchExpressions: [{ key: 'node-role.kubernetes.io/worker', operator: 'Exists' }] },
      ],
    });
  });

  it('selects one node term per pool, with tolerations and extra mounts', async () => {
    const { objects } = await renderer.render(variants['pools-values.yaml']);
    const ds = find(objects, 'DaemonSet', 'slipstream-agent');
    const terms =
      podSpec(ds).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
        .nodeSelectorTerms;
    expect(terms.map((t: Any) => t.matchExpressions[0].key)).toEqual([
      'node-role.kubernetes.io/worker',
      'node-role.kubernetes.io/gpu',
    ]);
    expect(podSpec(ds).tolerations).toEqual([
      { key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    expect(podSpec(ds).nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    const mounts = container(ds, 'agent').volumeMounts.map((m: Any) => m.mountPath);
    expect(mounts).toEqual(
      expect.arrayContaining(['/run/containers/0/auth.json', '/etc/containers-extra/certs.d']),
    );
    // nodeCABundle '' leaves the agent with the image's roots: no mount, no variable.
    expect(volume(ds, 'node-ca')).toBeUndefined();
    expect(container(ds, 'agent').env.map((e: Any) => e.name)).not.toContain('NODE_EXTRA_CA_CERTS');
    const config = rendered(objects).agent;
    expect(config.authFiles).toEqual([
      '/var/lib/kubelet/config.json',
      '/run/containers/0/auth.json',
      '/etc/slipstream/pull-secrets/team-registry/.dockerconfigjson',
    ]);
    // A pull secret is a Secret volume (updated in place when rotated), not a subPath mount.
    expect(volume(ds, 'pull-secret-0').secret).toEqual({
      secretName: 'team-registry',
      items: [{ key: '.dockerconfigjson', path: '.dockerconfigjson' }],
    });
    expect(container(ds, 'agent').volumeMounts).toContainEqual({
      name: 'pull-secret-0',
      mountPath: '/etc/slipstream/pull-secrets/team-registry',
      readOnly: true,
    });
    expect(config.cacheSize).toBe('50Gi');
    expect(config.backgroundFetch).toMatchObject({ enabled: false });
  });

  it('can use an existing SCC on the pod network with rolling updates', async () => {
    const { objects } = await renderer.render(variants['existing-scc-values.yaml']);
    expect(objects.filter((o) => o.kind === 'SecurityContextConstraints')).toEqual([]);
    const role = find(objects, 'ClusterRole', 'slipstream-agent-scc') as Any;
    expect(role.rules).toEqual([
      {
        apiGroups: ['security.openshift.io'],
        resources: ['securitycontextconstraints'],
        resourceNames: ['privileged'],
        verbs: ['use'],
      },
    ]);
    const ds = find(objects, 'DaemonSet', 'slipstream-agent');
    expect(podSpec(ds).hostNetwork).toBe(false);
    expect(podSpec(ds).dnsPolicy).toBeUndefined();
    expect(
      podSpec(ds).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution
        .nodeSelectorTerms,
    ).toHaveLength(1);
    expect((ds.spec as Any).updateStrategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 1 },
    });
  });

  it('has an SCC that allows exactly what the pod needs, granted to its ServiceAccount', () => {
    const scc = find(out.objects, 'SecurityContextConstraints', 'slipstream-agent') as Any;
    expect(scc).toMatchObject({
      allowPrivilegedContainer: true,
      allowHostDirVolumePlugin: true,
      allowHostNetwork: true,
      allowHostPID: false,
      allowHostIPC: false,
      runAsUser: { type: 'RunAsAny' },
      users: [],
      groups: [],
    });
    const used = new Set(
      podSpec(agent).volumes.map((v: Any) => Object.keys(v).find((k) => k !== 'name')),
    );
    for (const kind of used) expect(scc.volumes).toContain(kind);
    const role = find(out.objects, 'ClusterRole', 'slipstream-agent-scc') as Any;
    expect(role.rules[0]).toMatchObject({ resourceNames: ['slipstream-agent'], verbs: ['use'] });
    const binding = find(out.objects, 'RoleBinding', 'slipstream-agent-scc') as Any;
    expect(binding.roleRef).toEqual({
      apiGroup: 'rbac.authorization.k8s.io',
      kind: 'ClusterRole',
      name: 'slipstream-agent-scc',
    });
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'slipstream-agent', namespace: 'slipstream' },
    ]);
  });

  it('renders an agent.yaml that the agent itself accepts', () => {
    const config = resolveAgentConfig(
      rendered(out.objects).agent,
      {},
      { NODE_NAME: 'worker-0' },
      'chart',
    );
    expect(config).toMatchObject({
      mountpoint: '/var/lib/slipstream/store',
      stateDir: '/var/lib/slipstream',
      cacheSize: 20 * 2 ** 30,
      cacheMinFreePercent: 20,
      metricsAddress: ':9464',
      nodeName: 'worker-0',
      registriesConf: '/etc/containers/registries.conf',
      hub: {
        url: 'https://slipstream-hub.slipstream.svc:8443',
        caFile: '/var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt',
      },
    });
    const hubService = find(out.objects, 'Service', 'slipstream-hub') as Any;
    expect(hubService.spec.ports[0].port).toBe(8443);
  });

  it.each(Object.keys(variants))(
    '%s: agent.yaml passes the agent’s own validation',
    async (name) => {
      const { objects } = await renderer.render(variants[name]);
      expect(() =>
        resolveAgentConfig(rendered(objects).agent, {}, { NODE_NAME: 'n' }, name),
      ).not.toThrow();
    },
  );
});

describe('agent node scripts', () => {
  let dir: string;
  let stateDir: string;
  let store: string;
  let init: string[];
  let preStop: string[];
  beforeAll(async () => {
    dir = await makeTempDir('chart-state');
    stateDir = join(dir, 'state');
    store = join(stateDir, 'store');
    await mkdir(stateDir);
    const { objects } = await renderer.render({ agent: { stateDir } });
    const ds = find(objects, 'DaemonSet', 'slipstream-agent');
    init = container(ds, 'prepare-store').command as string[];
    preStop = container(ds, 'agent').lifecycle.preStop.exec.command as string[];
    expect(rendered(objects).agent.mountpoint).toBe(store);
  });
  afterAll(async () => {
    while (mountsAt(store).length > 0) await run('umount', ['-l', store]);
    await removeDir(dir);
  });

  /** A FUSE mount of the agent's type at the store, with nobody answering on the device. */
  async function mountFuse(): Promise<number> {
    const fd = openSync('/dev/fuse', 'r+');
    await runMount({
      fd,
      mountpoint: store,
      fsname: 'slipstream',
      subtype: 'slipstream',
      options: ['rootmode=40000', 'user_id=0', 'group_id=0'],
    });
    return fd;
  }
  const exec = (command: string[]) => run(command[0], command.slice(1));

  it('the init container creates the store directory, again and again', async () => {
    await exec(init);
    const created = await stat(store);
    expect(created.isDirectory()).toBe(true);
    expect(created.mode & 0o777).toBe(0o755);
    expect((await stat(stateDir)).mode & 0o777).toBe(0o711);
    await exec(init);
    expect((await stat(store)).isDirectory()).toBe(true);
  });

  it('the preStop hook is a no-op when nothing is mounted', async () => {
    await exec(preStop);
    expect((await stat(store)).isDirectory()).toBe(true);
  });

  it('the init container detaches dead FUSE mounts left by killed agents', async () => {
    // Two agents died in a row: their connections are gone, their mounts are still there.
    for (let i = 0; i < 2; i++) closeSync(await mountFuse());
    expect(mountsAt(store)).toHaveLength(2);
    await expect(stat(store)).rejects.toMatchObject({ code: 'ENOTCONN' });
    const { stdout } = await exec(init);
    expect(stdout).toContain('detaching the dead FUSE mount');
    expect(mountsAt(store)).toEqual([]);
    expect((await stat(store)).isDirectory()).toBe(true);
  });

  it('the preStop hook unmounts the store of a running agent without touching the files below', async () => {
    const fd = await mountFuse();
    try {
      expect(mountsAt(store)).toHaveLength(1);
      // The hook must not access the mount (a busy agent would block it): it only reads mountinfo.
      await exec(preStop);
      expect(mountsAt(store)).toEqual([]);
      expect((await stat(store)).isDirectory()).toBe(true);
    } finally {
      closeSync(fd);
    }
  });
});

describe('hub', () => {
  let out: Rendered;
  beforeAll(async () => {
    out = await renderer.render();
  });

  it('runs one non-root replica with its serving certificate and configuration', () => {
    const hub = find(out.objects, 'Deployment', 'slipstream-hub') as Any;
    expect(hub.spec.replicas).toBe(1);
    expect(hub.spec.strategy).toEqual({ type: 'Recreate' });
    const c = container(hub, 'hub');
    expect(c.securityContext).toMatchObject({
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
    });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'https', scheme: 'HTTPS' });
    const service = find(out.objects, 'Service', 'slipstream-hub') as Any;
    const secret =
      service.metadata.annotations['service.beta.openshift.io/serving-cert-secret-name'];
    expect(volume(hub, 'tls')).toEqual({ name: 'tls', secret: { secretName: secret } });
    const tlsMount = c.volumeMounts.find((m: Any) => m.name === 'tls').mountPath as string;
    const config = parseYaml(
      (find(out.objects, 'ConfigMap', 'slipstream-hub') as Any).data['hub.yaml'],
    );
    expect(config).toEqual({
      listen: ':8443',
      tls: { certFile: `${tlsMount}/tls.crt`, keyFile: `${tlsMount}/tls.key` },
      dbPath: '/var/lib/slipstream-hub/hub.db',
      retentionDays: 30,
      namespace: 'slipstream',
      agentConfigMap: 'slipstream-agent',
      logLevel: 'info',
    });
    // The hub's own configuration loader accepts it.
    expect(resolveHubConfig(config, {})).toMatchObject({
      namespace: 'slipstream',
      insecureHttp: false,
    });
    expect(volume(hub, 'data')).toEqual({
      name: 'data',
      persistentVolumeClaim: { claimName: 'slipstream-hub-data' },
    });
  });

  it('may watch pods and events and review tokens, and write nothing else', () => {
    const role = find(out.objects, 'ClusterRole', 'slipstream-hub') as Any;
    const can = (group: string, resource: string, verb: string) =>
      role.rules.some(
        (r: Any) =>
          r.apiGroups.includes(group) && r.resources.includes(resource) && r.verbs.includes(verb),
      );
    for (const resource of ['pods', 'events']) {
      for (const verb of ['get', 'list', 'watch'])
        expect([resource, verb, can('', resource, verb)]).toEqual([resource, verb, true]);
    }
    expect(can('authentication.k8s.io', 'tokenreviews', 'create')).toBe(true);
    expect(can('authorization.k8s.io', 'subjectaccessreviews', 'create')).toBe(true);
    const writes = role.rules.filter(
      (r: Any) =>
        !['tokenreviews', 'subjectaccessreviews'].includes(r.resources[0]) &&
        r.verbs.some((v: string) => !['get', 'list', 'watch'].includes(v)),
    );
    expect(writes).toEqual([]);
    const binding = find(out.objects, 'ClusterRoleBinding', 'slipstream-hub') as Any;
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: 'slipstream-hub', namespace: 'slipstream' },
    ]);
  });

  it('keeps its database on a PVC that outlives helm uninstall, or in an emptyDir', async () => {
    // By default: the cluster's default StorageClass, and the PVC left behind by uninstall.
    const byDefault = find(out.objects, 'PersistentVolumeClaim', 'slipstream-hub-data') as Any;
    expect(byDefault.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(byDefault.spec.storageClassName).toBeUndefined();
    const headless = await renderer.render(variants['headless-values.yaml']);
    expect(headless.objects.filter((o) => o.kind === 'PersistentVolumeClaim')).toEqual([]);
    expect(volume(find(headless.objects, 'Deployment', 'slipstream-hub'), 'data')).toEqual({
      name: 'data',
      emptyDir: {},
    });
    const { objects } = await renderer.render(variants['persistent-monitored-values.yaml']);
    const pvc = find(objects, 'PersistentVolumeClaim', 'slipstream-hub-data') as Any;
    expect(pvc.spec).toEqual({
      accessModes: ['ReadWriteOnce'],
      storageClassName: 'gp3-csi',
      resources: { requests: { storage: '20Gi' } },
    });
    const hub = find(objects, 'Deployment', 'slipstream-hub');
    expect(volume(hub, 'data')).toEqual({
      name: 'data',
      persistentVolumeClaim: { claimName: 'slipstream-hub-data' },
    });
    expect(container(hub, 'hub').image).toBe(
      'registry.example.com/slipstream/slipstream@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    );
    expect(podSpec(hub).imagePullSecrets).toEqual([{ name: 'slipstream-pull' }]);
  });

  it('offers a ServiceMonitor for the agents only when asked', async () => {
    expect(out.objects.filter((o) => o.kind === 'ServiceMonitor')).toEqual([]);
    const { objects } = await renderer.render(variants['persistent-monitored-values.yaml']);
    const monitor = find(objects, 'ServiceMonitor', 'slipstream-agent') as Any;
    const service = find(objects, 'Service', 'slipstream-agent-metrics') as Any;
    expect(monitor.spec.selector.matchLabels).toEqual(service.spec.selector);
    expect(monitor.spec.endpoints[0]).toMatchObject({
      port: service.spec.ports[0].name,
      path: '/metrics',
      interval: '15s',
    });
    const agent = find(objects, 'DaemonSet', 'slipstream-agent');
    expect(service.spec.ports[0].port).toBe(container(agent, 'agent').ports[0].containerPort);
    expect(monitor.metadata.labels['openshift.io/user-monitoring']).toBe('false');
  });

  it('renders no hub monitoring objects unless the ServiceMonitors are enabled', () => {
    const names = out.objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(names.filter((n) => /metrics-reader|metrics-ca|prometheus/.test(n))).toEqual([]);
  });

  it('scrapes the hub over HTTPS with the service CA and Prometheus’s token', async () => {
    const { objects } = await renderer.render(variants['persistent-monitored-values.yaml'], {
      namespace: 'lazy-pull',
    });
    const monitor = find(objects, 'ServiceMonitor', 'slipstream-hub') as Any;
    const service = find(objects, 'Service', 'slipstream-hub') as Any;
    expect(monitor.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(service.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    // Only the hub Service matches (not the plugin's, not the agents').
    const selected = objects.filter(
      (o) =>
        o.kind === 'Service' &&
        Object.entries(monitor.spec.selector.matchLabels).every(
          ([k, v]) => o.metadata.labels?.[k] === v,
        ),
    );
    expect(selected.map((o) => o.metadata.name)).toEqual(['slipstream-hub']);
    expect(monitor.spec.namespaceSelector).toEqual({ matchNames: ['lazy-pull'] });
    const caMap = find(objects, 'ConfigMap', 'slipstream-hub-metrics-ca') as Any;
    expect(caMap.metadata.annotations).toEqual({
      'service.beta.openshift.io/inject-cabundle': 'true',
    });
    expect(caMap.data).toBeUndefined();
    expect(monitor.spec.endpoints).toEqual([
      {
        port: service.spec.ports[0].name,
        path: '/metrics',
        scheme: 'https',
        interval: '15s',
        bearerTokenFile: '/var/run/secrets/kubernetes.io/serviceaccount/token',
        tlsConfig: {
          serverName: 'slipstream-hub.lazy-pull.svc',
          ca: { configMap: { name: 'slipstream-hub-metrics-ca', key: 'service-ca.crt' } },
        },
      },
    ]);
  });

  it('lets the platform Prometheus get the hub’s /metrics, and only that', async () => {
    const { objects } = await renderer.render(variants['persistent-monitored-values.yaml']);
    const role = find(objects, 'ClusterRole', 'slipstream-hub-metrics-reader') as Any;
    expect(role.rules).toEqual([{ nonResourceURLs: ['/metrics'], verbs: ['get'] }]);
    expectBoundToPlatformPrometheus(objects, 'ClusterRole', 'slipstream-hub-metrics-reader');
  });

  it('lets the platform Prometheus discover the targets in this namespace, read-only', async () => {
    const { objects } = await renderer.render(variants['persistent-monitored-values.yaml'], {
      namespace: 'lazy-pull',
    });
    const role = find(objects, 'Role', 'slipstream-prometheus-discovery') as Any;
    expect(role.metadata.namespace).toBe('lazy-pull');
    expect(role.rules).toEqual([
      {
        apiGroups: [''],
        resources: ['services', 'endpoints', 'pods'],
        verbs: ['get', 'list', 'watch'],
      },
      {
        apiGroups: ['discovery.k8s.io'],
        resources: ['endpointslices'],
        verbs: ['get', 'list', 'watch'],
      },
    ]);
    expectBoundToPlatformPrometheus(objects, 'Role', 'slipstream-prometheus-discovery');
  });

  it('binds the scrapers the values name, or none', async () => {
    const monitored = variants['persistent-monitored-values.yaml'];
    const uwm = await renderer.render({
      ...monitored,
      monitoring: {
        serviceMonitor: {
          enabled: true,
          interval: '30s',
          scrapers: [
            { namespace: 'openshift-user-workload-monitoring', name: 'prometheus-user-workload' },
          ],
        },
      },
    });
    expect(
      (find(uwm.objects, 'ClusterRoleBinding', 'slipstream-hub-metrics-reader') as Any).subjects,
    ).toEqual([
      {
        kind: 'ServiceAccount',
        name: 'prometheus-user-workload',
        namespace: 'openshift-user-workload-monitoring',
      },
    ]);
    const none = await renderer.render({
      monitoring: { serviceMonitor: { enabled: true, scrapers: [] } },
    });
    expect(none.objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(
      expect.arrayContaining([
        'ClusterRole/slipstream-hub-metrics-reader',
        'ServiceMonitor/slipstream-hub',
      ]),
    );
    expect(
      none.objects.filter(
        (o) => o.kind === 'ClusterRoleBinding' && o.metadata.name.includes('metrics'),
      ),
    ).toEqual([]);
    expect(none.objects.filter((o) => o.metadata.name.includes('prometheus'))).toEqual([]);
    const bad = await renderer.render({
      monitoring: { serviceMonitor: { scrapers: [{ namespace: 'Openshift Monitoring' }] } },
    });
    expect(schemaErrors(bad.values).join('\n')).toMatch(/scrapers\/0/);
  });
});

describe('console plugin', () => {
  let out: Rendered;
  beforeAll(async () => {
    out = await renderer.render();
  });

  it('registers the plugin with its backend Service and the hub proxy', async () => {
    const pkg = JSON.parse(await readFile(join(repoRoot, 'package.json'), 'utf8'));
    const plugin = find(out.objects, 'ConsolePlugin', pkg.consolePlugin.name) as Any;
    const service = find(out.objects, 'Service', 'slipstream-plugin') as Any;
    const hub = find(out.objects, 'Service', 'slipstream-hub') as Any;
    expect(plugin.spec).toEqual({
      displayName: 'Slipstream lazy image pulling',
      i18n: { loadType: 'Preload' },
      backend: {
        type: 'Service',
        service: {
          name: 'slipstream-plugin',
          namespace: 'slipstream',
          port: service.spec.ports[0].port,
          basePath: '/',
        },
      },
      proxy: [
        {
          alias: 'hub',
          authorization: 'UserToken',
          endpoint: {
            type: 'Service',
            service: {
              name: 'slipstream-hub',
              namespace: 'slipstream',
              port: hub.spec.ports[0].port,
            },
          },
        },
      ],
    });
  });

  it('keeps a replica up through node drains', async () => {
    const deployment = find(out.objects, 'Deployment', 'slipstream-plugin') as Any;
    const pdb = find(out.objects, 'PodDisruptionBudget', 'slipstream-plugin') as Any;
    expect(pdb.spec).toEqual({ maxUnavailable: 1, selector: deployment.spec.selector });
    const spread = podSpec(deployment).affinity.podAntiAffinity;
    expect(spread.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm).toEqual({
      topologyKey: 'kubernetes.io/hostname',
      labelSelector: deployment.spec.selector,
    });
    // One replica: there is nothing to keep up through a drain, and no budget.
    const single = await renderer.render({ plugin: { replicas: 1 } });
    expect(single.objects.filter((o) => o.kind === 'PodDisruptionBudget')).toEqual([]);
    // nginx's `auto` starts a worker per host CPU, beyond what the memory limit holds.
    const nginx = await readFile(join(repoRoot, 'images/plugin/nginx.conf'), 'utf8');
    expect(nginx).toMatch(/^worker_processes 2;$/m);
  });

  it('serves the assets over TLS with the service-ca certificate nginx is configured for', async () => {
    const deployment = find(out.objects, 'Deployment', 'slipstream-plugin') as Any;
    const service = find(out.objects, 'Service', 'slipstream-plugin') as Any;
    const secret =
      service.metadata.annotations['service.beta.openshift.io/serving-cert-secret-name'];
    expect(volume(deployment, 'cert').secret.secretName).toBe(secret);
    const c = container(deployment, 'plugin');
    expect(c.volumeMounts).toContainEqual({ name: 'cert', mountPath: '/var/cert', readOnly: true });
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, readOnlyRootFilesystem: true });
    const nginx = await readFile(join(repoRoot, 'images/plugin/nginx.conf'), 'utf8');
    expect(nginx).toContain(`listen ${c.ports[0].containerPort} ssl;`);
    expect(nginx).toContain('ssl_certificate /var/cert/tls.crt;');
    expect(nginx).toContain('ssl_certificate_key /var/cert/tls.key;');
    expect(nginx).toMatch(/pid \/tmp\//);
    expect(service.spec.ports[0].targetPort).toBe(c.ports[0].name);
  });

  it('adds itself to the console after install/upgrade and removes itself before uninstall', () => {
    const enable = find(out.objects, 'Job', 'slipstream-console-enable') as Any;
    const disable = find(out.objects, 'Job', 'slipstream-console-disable') as Any;
    expect(enable.metadata.annotations['helm.sh/hook']).toBe('post-install,post-upgrade');
    expect(disable.metadata.annotations['helm.sh/hook']).toBe('pre-delete');
    expect(container(enable, 'patch-console').command.slice(-2)).toEqual(['add', 'slipstream']);
    expect(container(disable, 'patch-console').command.slice(-2)).toEqual(['remove', 'slipstream']);
    for (const job of [enable, disable]) {
      expect(podSpec(job).serviceAccountName).toBe('slipstream-console-patcher');
      expect(job.metadata.annotations['helm.sh/hook-delete-policy']).toContain(
        'before-hook-creation',
      );
    }
    const role = find(out.objects, 'ClusterRole', 'slipstream-console-patcher') as Any;
    expect(role.rules).toEqual([
      {
        apiGroups: ['operator.openshift.io'],
        resources: ['consoles'],
        resourceNames: ['cluster'],
        verbs: ['get', 'patch'],
      },
    ]);
  });

  it('takes the plugin out of the console when it is switched off', async () => {
    const { objects } = await renderer.render({ plugin: { enabled: false } });
    expect(objects.filter((o) => o.kind === 'ConsolePlugin')).toEqual([]);
    const enable = find(objects, 'Job', 'slipstream-console-enable');
    expect(container(enable, 'patch-console').command.slice(-2)).toEqual(['remove', 'slipstream']);
  });

  it('renders no plugin and no console Jobs for a headless install', async () => {
    const { objects } = await renderer.render(variants['headless-values.yaml']);
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds.filter((k) => /plugin|console/.test(k))).toEqual([]);
    expect(kinds).toContain('DaemonSet/slipstream-agent');
  });
});

describe('NOTES.txt', () => {
  it('tells the admin what to check and that nodes are not configured yet', async () => {
    const { notes } = await renderer.render({}, { namespace: 'lazy' });
    expect(notes).toContain('oc -n lazy get daemonset slipstream-agent');
    // kubectl refuses `rollout status` for the default OnDelete strategy.
    expect(notes).not.toContain('rollout status');
    expect(notes).toContain('/var/lib/slipstream/store');
    expect(notes).toContain('reboots');
    expect(notes).not.toContain('<no value>');
  });
});

describe('the object schemas', () => {
  it('know the kinds the chart renders', () => {
    expect(knownKinds).toEqual(
      expect.arrayContaining(['apps/v1/DaemonSet', 'console.openshift.io/v1/ConsolePlugin']),
    );
  });

  it('catch a misspelled field anywhere in an object', async () => {
    const { objects } = await renderer.render();
    const agent = structuredClone(find(objects, 'DaemonSet', 'slipstream-agent')) as Any;
    agent.spec.template.spec.containers[0].volumeMounts[0].mountPropogation = 'Bidirectional';
    expect(validateObject(agent).join()).toMatch(/unknown field\(s\) mountPropogation/);
    const plugin = structuredClone(find(objects, 'ConsolePlugin', 'slipstream')) as Any;
    plugin.spec.proxy[0].authorisation = 'UserToken';
    expect(validateObject(plugin).join()).toMatch(/authorisation/);
    const role = structuredClone(find(objects, 'ClusterRole', 'slipstream-hub')) as Any;
    role.rules[0].nonResourceURLs = ['/metrics'];
    expect(validateObject(role).join()).toMatch(/nonResourceURLs/);
    expect(
      validateObject({ apiVersion: 'machineconfiguration.openshift.io/v1', kind: 'MachineConfig' }),
    ).toEqual([expect.stringContaining('no schema')]);
  });

  it('catch, through the API models too, a field or a value type the real API does not have', async () => {
    const { objects } = await renderer.render();
    const agent = structuredClone(find(objects, 'DaemonSet', 'slipstream-agent')) as Any;
    expect(checkAgainstApiModel(agent)).toEqual([]);
    agent.spec.template.spec.containers[0].volumeMounts[0].mountPropogation = 'Bidirectional';
    agent.spec.template.spec.hostNetwork = 'true';
    agent.spec.template.spec.containers[0].ports[0].containerPort = 9464.5;
    expect(checkAgainstApiModel(agent).sort()).toEqual([
      'DaemonSet.spec.template.spec.containers[0].ports[0].containerPort: expected an integer, got 9464.5',
      'DaemonSet.spec.template.spec.containers[0].volumeMounts[0].mountPropogation: no such field in V1VolumeMount',
      'DaemonSet.spec.template.spec.hostNetwork: expected a boolean, got string',
    ]);
    const scc = find(objects, 'SecurityContextConstraints', 'slipstream-agent');
    expect(checkAgainstApiModel(scc)).toEqual([
      'security.openshift.io/v1 is not a built-in API group',
    ]);
  });
});
