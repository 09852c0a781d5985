// Kubernetes objects in the shapes a real OpenShift 4.x / CRI-O cluster returns (recorded from
// `oc get pod -o json`, `oc get events -o json` and `oc get mcp -o json`, trimmed of managedFields,
// with names, uids, IPs and times made parameters). Tests feed them to the stand-in API server.

export interface PodPlan {
  namespace: string;
  name: string;
  node: string;
  /** Images by container name, in spec order, as written in the pod spec. */
  containers: { name: string; image: string; imageDigest: string }[];
  /** Milliseconds since the epoch. */
  createdAt: number;
  /** Offsets in seconds from createdAt. */
  scheduledAfter: number;
  sandboxReadyAfter: number;
  startedAfter: number;
  readyAfter: number;
  uid?: string;
}

const iso = (ms: number) =>
  new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
const at = (plan: PodPlan, seconds: number) => iso(plan.createdAt + seconds * 1000);

function podBase(plan: PodPlan): Record<string, unknown> {
  const hash = '7d9f8b6c5d';
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: plan.name,
      generateName: `${plan.name.split('-').slice(0, -2).join('-') || plan.name}-${hash}-`,
      namespace: plan.namespace,
      ...(plan.uid ? { uid: plan.uid } : {}),
      creationTimestamp: iso(plan.createdAt),
      labels: { app: plan.name.split('-')[0] ?? plan.name, 'pod-template-hash': hash },
      annotations: {
        'k8s.ovn.org/pod-networks': `{"default":{"ip_addresses":["10.128.2.41/23"],"mac_address":"0a:58:0a:80:02:29","gateway_ips":["10.128.2.1"],"role":"primary"}}`,
        'openshift.io/scc': 'restricted-v2',
        'seccomp.security.alpha.kubernetes.io/pod': 'runtime/default',
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: `${plan.name.split('-')[0] ?? plan.name}-${hash}`,
          uid: '5b0e2a4c-93b1-4a57-8f0e-0d3c7c6f2a11',
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    },
    spec: {
      containers: plan.containers.map((c) => ({
        name: c.name,
        image: c.image,
        imagePullPolicy: 'IfNotPresent',
        ports: [{ containerPort: 8080, protocol: 'TCP' }],
        readinessProbe: {
          httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' },
          periodSeconds: 2,
          timeoutSeconds: 1,
          successThreshold: 1,
          failureThreshold: 3,
        },
        resources: { requests: { cpu: '10m', memory: '32Mi' } },
        securityContext: {
          allowPrivilegeEscalation: false,
          capabilities: { drop: ['ALL'] },
          runAsNonRoot: true,
          runAsUser: 1000680000,
        },
        terminationMessagePath: '/dev/termination-log',
        terminationMessagePolicy: 'File',
        volumeMounts: [
          {
            name: 'kube-api-access-x7k2p',
            mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
            readOnly: true,
          },
        ],
      })),
      dnsPolicy: 'ClusterFirst',
      enableServiceLinks: true,
      imagePullSecrets: [{ name: 'default-dockercfg-9x2lq' }],
      preemptionPolicy: 'PreemptLowerPriority',
      priority: 0,
      restartPolicy: 'Always',
      schedulerName: 'default-scheduler',
      securityContext: {
        fsGroup: 1000680000,
        seLinuxOptions: { level: 's0:c26,c15' },
        seccompProfile: { type: 'RuntimeDefault' },
      },
      serviceAccount: 'default',
      serviceAccountName: 'default',
      terminationGracePeriodSeconds: 30,
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
      volumes: [
        {
          name: 'kube-api-access-x7k2p',
          projected: {
            defaultMode: 420,
            sources: [{ serviceAccountToken: { expirationSeconds: 3607, path: 'token' } }],
          },
        },
      ],
    },
  };
}

function condition(type: string, statusValue: boolean, when: string, reason?: string) {
  return {
    type,
    status: statusValue ? 'True' : 'False',
    lastProbeTime: null,
    lastTransitionTime: when,
    ...(reason ? { reason } : {}),
  };
}

/**
 * The successive states a pod goes through, as the API server shows them: created (Pending, not
 * scheduled), scheduled, sandbox ready while images pull (ContainerCreating), running but not
 * ready, Ready.
 */
export function podPhases(plan: PodPlan): Record<string, unknown>[] {
  const base = podBase(plan);
  const spec = base.spec as Record<string, unknown>;
  const created = iso(plan.createdAt);
  const scheduled = at(plan, plan.scheduledAfter);
  const sandbox = at(plan, plan.sandboxReadyAfter);
  const started = at(plan, plan.startedAfter);
  const ready = at(plan, plan.readyAfter);
  const waiting = plan.containers.map((c) => ({
    name: c.name,
    image: c.image,
    imageID: '',
    lastState: {},
    ready: false,
    restartCount: 0,
    started: false,
    state: { waiting: { reason: 'ContainerCreating' } },
    volumeMounts: [
      {
        name: 'kube-api-access-x7k2p',
        mountPath: '/var/run/secrets/kubernetes.io/serviceaccount',
        readOnly: true,
        recursiveReadOnly: 'Disabled',
      },
    ],
  }));
  const running = (isReady: boolean) =>
    plan.containers.map((c, i) => ({
      ...waiting[i],
      containerID: `cri-o://${(i + 1).toString(16).padStart(2, '0')}a3c51f0e6b2d94c8e7f1a0b3d5c7e9f1a2b4c6d8e0f2a4b6c8d0e2f4a6b8c0d`,
      image: c.image,
      imageID: `${c.image.split('@')[0].replace(/:[^/:]+$/, '')}@${c.imageDigest}`,
      ready: isReady,
      started: true,
      state: { running: { startedAt: started } },
    }));
  const statusBase = { phase: 'Pending', qosClass: 'Burstable' };
  const withNode = { ...base, spec: { ...spec, nodeName: plan.node } };
  const hostIPs = { hostIP: '10.0.128.12', hostIPs: [{ ip: '10.0.128.12' }], startTime: scheduled };
  return [
    {
      ...base,
      status: {
        ...statusBase,
        conditions: [condition('PodScheduled', false, created, 'Unschedulable')],
      },
    },
    {
      ...withNode,
      status: { ...statusBase, conditions: [condition('PodScheduled', true, scheduled)] },
    },
    {
      ...withNode,
      status: {
        ...statusBase,
        ...hostIPs,
        conditions: [
          condition('PodReadyToStartContainers', false, scheduled),
          condition('Initialized', true, scheduled),
          condition('Ready', false, scheduled, 'ContainersNotReady'),
          condition('ContainersReady', false, scheduled, 'ContainersNotReady'),
          condition('PodScheduled', true, scheduled),
        ],
        containerStatuses: waiting,
      },
    },
    {
      ...withNode,
      status: {
        ...statusBase,
        ...hostIPs,
        podIP: '10.128.2.41',
        podIPs: [{ ip: '10.128.2.41' }],
        conditions: [
          condition('PodReadyToStartContainers', true, sandbox),
          condition('Initialized', true, scheduled),
          condition('Ready', false, scheduled, 'ContainersNotReady'),
          condition('ContainersReady', false, scheduled, 'ContainersNotReady'),
          condition('PodScheduled', true, scheduled),
        ],
        containerStatuses: waiting,
      },
    },
    {
      ...withNode,
      status: {
        ...statusBase,
        ...hostIPs,
        phase: 'Running',
        podIP: '10.128.2.41',
        podIPs: [{ ip: '10.128.2.41' }],
        conditions: [
          condition('PodReadyToStartContainers', true, sandbox),
          condition('Initialized', true, scheduled),
          condition('Ready', false, scheduled, 'ContainersNotReady'),
          condition('ContainersReady', false, scheduled, 'ContainersNotReady'),
          condition('PodScheduled', true, scheduled),
        ],
        containerStatuses: running(false),
      },
    },
    {
      ...withNode,
      status: {
        ...statusBase,
        ...hostIPs,
        phase: 'Running',
        podIP: '10.128.2.41',
        podIPs: [{ ip: '10.128.2.41' }],
        conditions: [
          condition('PodReadyToStartContainers', true, sandbox),
          condition('Initialized', true, scheduled),
          condition('Ready', true, ready),
          condition('ContainersReady', true, ready),
          condition('PodScheduled', true, scheduled),
        ],
        containerStatuses: running(true),
      },
    },
  ];
}

/** The message forms of the kubelet's Pulled event (pkg/kubelet/images/image_manager.go). */
export const PulledMessages = {
  /** Kubernetes ≥ 1.30: pull time, time including the queue, image size. */
  pulledWithSize: (image: string, pull: string, total: string, size: number) =>
    `Successfully pulled image "${image}" in ${pull} (${total} including waiting). Image size: ${size} bytes.`,
  /** Kubernetes 1.26–1.29: pull time and time including the queue. */
  pulledWithWaiting: (image: string, pull: string, total: string) =>
    `Successfully pulled image "${image}" in ${pull} (${total} including waiting)`,
  /** Older kubelets: pull time only. */
  pulledPlain: (image: string, pull: string) => `Successfully pulled image "${image}" in ${pull}`,
  alreadyPresent: (image: string) => `Container image "${image}" already present on machine`,
  /** Kubernetes ≥ 1.33 (image pull credential verification). */
  alreadyPresentAccessible: (image: string) =>
    `Container image "${image}" already present on machine and can be accessed by the pod`,
} as const;

export interface EventPlan {
  namespace: string;
  podName: string;
  podUid: string;
  container: string;
  node: string;
  message: string;
  /** Milliseconds since the epoch. */
  at: number;
}

/** A core/v1 Event about a pod's container, as the kubelet records it. */
export function pulledEvent(plan: EventPlan): Record<string, unknown> {
  const when = iso(plan.at);
  const suffix = (plan.at % 0xffffffffff).toString(16).padStart(16, '0');
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: {
      name: `${plan.podName}.${suffix}`,
      namespace: plan.namespace,
      creationTimestamp: when,
    },
    involvedObject: {
      apiVersion: 'v1',
      kind: 'Pod',
      name: plan.podName,
      namespace: plan.namespace,
      uid: plan.podUid,
      resourceVersion: '482211',
      fieldPath: `spec.containers{${plan.container}}`,
    },
    reason: 'Pulled',
    message: plan.message,
    source: { component: 'kubelet', host: plan.node },
    firstTimestamp: when,
    lastTimestamp: when,
    count: 1,
    type: 'Normal',
    eventTime: null,
    reportingComponent: 'kubelet',
    reportingInstance: plan.node,
  };
}

/** A MachineConfigPool (machineconfiguration.openshift.io/v1) as `oc get mcp worker -o json` shows it. */
export function machineConfigPool(
  name: string,
  opts: { machineCount?: number; updated?: number; paused?: boolean; renderedConfig?: string } = {},
): Record<string, unknown> {
  const count = opts.machineCount ?? 3;
  const updated = opts.updated ?? count;
  const rendered = opts.renderedConfig ?? `rendered-${name}-4b1f6c0e2d8a9f3b7c5e1d0a6b8f2c4e`;
  const updating = updated < count;
  const t = '2026-11-20T08:14:51Z';
  return {
    apiVersion: 'machineconfiguration.openshift.io/v1',
    kind: 'MachineConfigPool',
    metadata: {
      name,
      labels: {
        [`machineconfiguration.openshift.io/mco-built-in`]: '',
        [`pools.operator.machineconfiguration.openshift.io/${name}`]: '',
      },
      creationTimestamp: '2026-11-01T10:02:11Z',
      generation: 3,
    },
    spec: {
      configuration: {
        name: rendered,
        source: [
          {
            apiVersion: 'machineconfiguration.openshift.io/v1',
            kind: 'MachineConfig',
            name: `00-${name}`,
          },
        ],
      },
      machineConfigSelector: { matchLabels: { 'machineconfiguration.openshift.io/role': name } },
      nodeSelector: { matchLabels: { [`node-role.kubernetes.io/${name}`]: '' } },
      paused: opts.paused ?? false,
    },
    status: {
      configuration: { name: rendered },
      machineCount: count,
      readyMachineCount: updated,
      updatedMachineCount: updated,
      unavailableMachineCount: updating ? 1 : 0,
      degradedMachineCount: 0,
      observedGeneration: 3,
      conditions: [
        { type: 'RenderDegraded', status: 'False', lastTransitionTime: t, message: '', reason: '' },
        { type: 'NodeDegraded', status: 'False', lastTransitionTime: t, message: '', reason: '' },
        { type: 'Degraded', status: 'False', lastTransitionTime: t, message: '', reason: '' },
        {
          type: 'Updated',
          status: updating ? 'False' : 'True',
          lastTransitionTime: t,
          message: updating ? '' : `All nodes are updated with MachineConfig ${rendered}`,
          reason: '',
        },
        {
          type: 'Updating',
          status: updating ? 'True' : 'False',
          lastTransitionTime: t,
          message: updating ? `All nodes are updating to MachineConfig ${rendered}` : '',
          reason: '',
        },
      ],
    },
  };
}
