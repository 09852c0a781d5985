// Strict schemas for every kind the chart renders, following the Kubernetes and OpenShift API
// types (core/v1, apps/v1, batch/v1, rbac/v1, security.openshift.io/v1, console.openshift.io/v1,
// monitoring.coreos.com/v1). Strict means an unknown or misspelled field fails validation, as
// `oc apply --validate=strict` would. They cover the fields the chart uses plus their common
// siblings; a field outside them must be added here deliberately, with its API type.
import { z } from 'zod';

const dns1123Label = z
  .string()
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label');
const dns1123Subdomain = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, 'DNS-1123 subdomain');
const labelKey = z
  .string()
  .regex(
    /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/,
    'label key',
  );
const labelValue = z
  .string()
  .regex(
    /^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$/,
    'label value (≤63, alphanumeric ends)',
  );
const labels = z.record(labelKey, labelValue);
const annotations = z.record(labelKey, z.string());
const quantity = z.union([
  z.number(),
  z.string().regex(/^[+-]?[0-9.]+([eE][-+]?[0-9]+|[KMGTPE]i?|[mkMGTPE])?$/, 'quantity'),
]);
const intOrString = z.union([z.number().int(), z.string()]);
const port = z.number().int().min(1).max(65535);
const absolutePath = z.string().startsWith('/');

const metadata = (scope: 'namespaced' | 'cluster') =>
  z.strictObject({
    name: dns1123Subdomain,
    namespace: scope === 'namespaced' ? dns1123Label : z.never().optional(),
    labels: labels.optional(),
    annotations: annotations.optional(),
  });

const typed = <A extends string, K extends string>(apiVersion: A, kind: K) => ({
  apiVersion: z.literal(apiVersion),
  kind: z.literal(kind),
});

// ---- core/v1 pod template pieces ----
const resourceList = z.partialRecord(z.enum(['cpu', 'memory', 'ephemeral-storage']), quantity);
const resources = z.strictObject({
  requests: resourceList.optional(),
  limits: resourceList.optional(),
});
const seccompProfile = z.strictObject({
  type: z.enum(['RuntimeDefault', 'Unconfined', 'Localhost']),
  localhostProfile: z.string().optional(),
});
const containerSecurityContext = z.strictObject({
  privileged: z.boolean().optional(),
  runAsUser: z.number().int().min(0).optional(),
  runAsGroup: z.number().int().min(0).optional(),
  runAsNonRoot: z.boolean().optional(),
  readOnlyRootFilesystem: z.boolean().optional(),
  allowPrivilegeEscalation: z.boolean().optional(),
  capabilities: z
    .strictObject({ add: z.array(z.string()).optional(), drop: z.array(z.string()).optional() })
    .optional(),
  seccompProfile: seccompProfile.optional(),
  procMount: z.enum(['Default', 'Unmasked']).optional(),
});
const podSecurityContext = z.strictObject({
  runAsUser: z.number().int().min(0).optional(),
  runAsGroup: z.number().int().min(0).optional(),
  runAsNonRoot: z.boolean().optional(),
  fsGroup: z.number().int().min(0).optional(),
  supplementalGroups: z.array(z.number().int()).optional(),
  seccompProfile: seccompProfile.optional(),
});
const handlerFields = {
  httpGet: z
    .strictObject({
      path: z.string().startsWith('/'),
      port: intOrString,
      scheme: z.enum(['HTTP', 'HTTPS']).optional(),
      host: z.string().optional(),
    })
    .optional(),
  exec: z.strictObject({ command: z.array(z.string()).min(1) }).optional(),
  tcpSocket: z.strictObject({ port: intOrString, host: z.string().optional() }).optional(),
};
const probe = z.strictObject({
  ...handlerFields,
  initialDelaySeconds: z.number().int().min(0).optional(),
  periodSeconds: z.number().int().min(1).optional(),
  timeoutSeconds: z.number().int().min(1).optional(),
  successThreshold: z.number().int().min(1).optional(),
  failureThreshold: z.number().int().min(1).optional(),
  terminationGracePeriodSeconds: z.number().int().min(1).optional(),
});
const lifecycleHandler = z.strictObject(handlerFields);
const envVar = z.strictObject({
  name: z.string().min(1),
  value: z.string().optional(),
  valueFrom: z
    .strictObject({
      fieldRef: z
        .strictObject({ fieldPath: z.string(), apiVersion: z.string().optional() })
        .optional(),
      configMapKeyRef: z.strictObject({ name: z.string(), key: z.string() }).optional(),
      secretKeyRef: z.strictObject({ name: z.string(), key: z.string() }).optional(),
    })
    .optional(),
});
const volumeMount = z.strictObject({
  name: dns1123Label,
  mountPath: absolutePath,
  readOnly: z.boolean().optional(),
  subPath: z.string().optional(),
  mountPropagation: z.enum(['None', 'HostToContainer', 'Bidirectional']).optional(),
});
const container = z.strictObject({
  name: dns1123Label,
  image: z.string().regex(/^[a-z0-9][a-z0-9._/:@-]*$/, 'image reference'),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  workingDir: z.string().optional(),
  env: z.array(envVar).optional(),
  ports: z
    .array(
      z.strictObject({
        name: z.string().max(15).optional(),
        containerPort: port,
        hostPort: port.optional(),
        protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
      }),
    )
    .optional(),
  resources: resources.optional(),
  securityContext: containerSecurityContext.optional(),
  startupProbe: probe.optional(),
  livenessProbe: probe.optional(),
  readinessProbe: probe.optional(),
  lifecycle: z
    .strictObject({ preStop: lifecycleHandler.optional(), postStart: lifecycleHandler.optional() })
    .optional(),
  volumeMounts: z.array(volumeMount).optional(),
  terminationMessagePolicy: z.enum(['File', 'FallbackToLogsOnError']).optional(),
});
const keyToPath = z.strictObject({
  key: z.string(),
  path: z.string(),
  mode: z.number().optional(),
});
/** The fields ConfigMap and Secret volumes share. */
const projectedKeys = {
  items: z.array(keyToPath).optional(),
  defaultMode: z.number().int().min(0).max(0o777).optional(),
  optional: z.boolean().optional(),
};
const volumeSources = {
  hostPath: z
    .strictObject({
      path: absolutePath,
      type: z
        .enum([
          '',
          'DirectoryOrCreate',
          'Directory',
          'FileOrCreate',
          'File',
          'Socket',
          'CharDevice',
          'BlockDevice',
        ])
        .optional(),
    })
    .optional(),
  configMap: z.strictObject({ name: z.string(), ...projectedKeys }).optional(),
  secret: z.strictObject({ secretName: z.string(), ...projectedKeys }).optional(),
  emptyDir: z
    .strictObject({ medium: z.enum(['', 'Memory']).optional(), sizeLimit: quantity.optional() })
    .optional(),
  persistentVolumeClaim: z
    .strictObject({ claimName: z.string(), readOnly: z.boolean().optional() })
    .optional(),
};
const volume = z
  .strictObject({ name: dns1123Label, ...volumeSources })
  .refine(
    (v) => Object.keys(volumeSources).filter((k) => k in v).length === 1,
    'a volume has exactly one source',
  );
const nodeSelectorRequirement = z.strictObject({
  key: labelKey,
  operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist', 'Gt', 'Lt']),
  values: z.array(z.string()).optional(),
});
const nodeSelectorTerm = z.strictObject({
  matchExpressions: z.array(nodeSelectorRequirement).optional(),
  matchFields: z.array(nodeSelectorRequirement).optional(),
});
const affinity = z.strictObject({
  nodeAffinity: z
    .strictObject({
      requiredDuringSchedulingIgnoredDuringExecution: z
        .strictObject({ nodeSelectorTerms: z.array(nodeSelectorTerm).min(1) })
        .optional(),
      preferredDuringSchedulingIgnoredDuringExecution: z
        .array(z.strictObject({ weight: z.number().int(), preference: nodeSelectorTerm }))
        .optional(),
    })
    .optional(),
  // Pod (anti-)affinity terms are passed through from values unchanged; their shape is not ours.
  podAffinity: z.record(z.string(), z.unknown()).optional(),
  podAntiAffinity: z.record(z.string(), z.unknown()).optional(),
});
const toleration = z.strictObject({
  key: z.string().optional(),
  operator: z.enum(['Exists', 'Equal']).optional(),
  value: z.string().optional(),
  effect: z.enum(['NoSchedule', 'PreferNoSchedule', 'NoExecute', '']).optional(),
  tolerationSeconds: z.number().int().optional(),
});
const podSpec = z.strictObject({
  serviceAccountName: dns1123Subdomain.optional(),
  automountServiceAccountToken: z.boolean().optional(),
  priorityClassName: z.string().optional(),
  hostNetwork: z.boolean().optional(),
  hostPID: z.boolean().optional(),
  hostIPC: z.boolean().optional(),
  dnsPolicy: z.enum(['ClusterFirst', 'ClusterFirstWithHostNet', 'Default', 'None']).optional(),
  terminationGracePeriodSeconds: z.number().int().min(0).optional(),
  restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).optional(),
  imagePullSecrets: z.array(z.strictObject({ name: z.string() })).optional(),
  nodeSelector: z.record(labelKey, labelValue).optional(),
  affinity: affinity.optional(),
  tolerations: z.array(toleration).optional(),
  securityContext: podSecurityContext.optional(),
  initContainers: z.array(container).optional(),
  containers: z.array(container).min(1),
  volumes: z.array(volume).optional(),
});
const podTemplate = z.strictObject({
  metadata: z.strictObject({ labels: labels.optional(), annotations: annotations.optional() }),
  spec: podSpec,
});
const labelSelector = z.strictObject({
  matchLabels: z.record(labelKey, labelValue).optional(),
  matchExpressions: z
    .array(
      z.strictObject({
        key: z.string(),
        operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']),
        values: z.array(z.string()).optional(),
      }),
    )
    .optional(),
});

// ---- kinds ----
const configMap = z.strictObject({
  ...typed('v1', 'ConfigMap'),
  metadata: metadata('namespaced'),
  data: z.record(z.string().regex(/^[-._a-zA-Z0-9]+$/), z.string()).optional(),
});
const serviceAccount = z.strictObject({
  ...typed('v1', 'ServiceAccount'),
  metadata: metadata('namespaced'),
  imagePullSecrets: z.array(z.strictObject({ name: z.string() })).optional(),
  automountServiceAccountToken: z.boolean().optional(),
});
const service = z.strictObject({
  ...typed('v1', 'Service'),
  metadata: metadata('namespaced'),
  spec: z.strictObject({
    type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer']).optional(),
    clusterIP: z.string().optional(),
    selector: z.record(labelKey, labelValue),
    ports: z
      .array(
        z.strictObject({
          name: dns1123Label.optional(),
          port,
          targetPort: intOrString.optional(),
          protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
        }),
      )
      .min(1),
  }),
});
const pvc = z.strictObject({
  ...typed('v1', 'PersistentVolumeClaim'),
  metadata: metadata('namespaced'),
  spec: z.strictObject({
    accessModes: z
      .array(z.enum(['ReadWriteOnce', 'ReadWriteOncePod', 'ReadWriteMany', 'ReadOnlyMany']))
      .min(1),
    storageClassName: z.string().optional(),
    resources: z.strictObject({ requests: z.strictObject({ storage: quantity }) }),
  }),
});
const deployment = z.strictObject({
  ...typed('apps/v1', 'Deployment'),
  metadata: metadata('namespaced'),
  spec: z.strictObject({
    replicas: z.number().int().min(0).optional(),
    selector: labelSelector,
    strategy: z
      .strictObject({
        type: z.enum(['Recreate', 'RollingUpdate']),
        rollingUpdate: z
          .strictObject({
            maxUnavailable: intOrString.optional(),
            maxSurge: intOrString.optional(),
          })
          .optional(),
      })
      .optional(),
    template: podTemplate,
  }),
});
// policy/v1: exactly one of minAvailable and maxUnavailable.
const podDisruptionBudget = z.strictObject({
  ...typed('policy/v1', 'PodDisruptionBudget'),
  metadata: metadata('namespaced'),
  spec: z
    .strictObject({
      selector: labelSelector,
      minAvailable: intOrString.optional(),
      maxUnavailable: intOrString.optional(),
      unhealthyPodEvictionPolicy: z.enum(['IfHealthyBudget', 'AlwaysAllow']).optional(),
    })
    .refine((spec) => (spec.minAvailable === undefined) !== (spec.maxUnavailable === undefined), {
      message: 'exactly one of minAvailable and maxUnavailable',
    }),
});
const daemonSet = z.strictObject({
  ...typed('apps/v1', 'DaemonSet'),
  metadata: metadata('namespaced'),
  spec: z.strictObject({
    selector: labelSelector,
    updateStrategy: z
      .strictObject({
        type: z.enum(['OnDelete', 'RollingUpdate']),
        rollingUpdate: z
          .strictObject({
            maxUnavailable: intOrString.optional(),
            maxSurge: intOrString.optional(),
          })
          .optional(),
      })
      .optional(),
    minReadySeconds: z.number().int().optional(),
    template: podTemplate,
  }),
});
const job = z.strictObject({
  ...typed('batch/v1', 'Job'),
  metadata: metadata('namespaced'),
  spec: z.strictObject({
    backoffLimit: z.number().int().min(0).optional(),
    activeDeadlineSeconds: z.number().int().min(1).optional(),
    ttlSecondsAfterFinished: z.number().int().min(0).optional(),
    template: podTemplate,
  }),
});
const verbs = z
  .array(
    z.enum([
      'get',
      'list',
      'watch',
      'create',
      'update',
      'patch',
      'delete',
      'deletecollection',
      'use',
    ]),
  )
  .min(1);
const policyRule = z.strictObject({
  apiGroups: z.array(z.string()),
  resources: z.array(z.string()).min(1),
  resourceNames: z.array(z.string()).optional(),
  verbs,
});
// A ClusterRole rule names either resources or non-resource URLs (paths such as /metrics), never
// both, as the API server's validation requires; namespaced Roles cannot name URLs at all.
const clusterPolicyRule = z
  .strictObject({
    apiGroups: z.array(z.string()).optional(),
    resources: z.array(z.string()).min(1).optional(),
    resourceNames: z.array(z.string()).optional(),
    nonResourceURLs: z
      .array(z.string().regex(/^\/[^*]*\*?$/, 'a path, optionally ending in *'))
      .min(1)
      .optional(),
    verbs,
  })
  .superRefine((rule, ctx) => {
    const urls = rule.nonResourceURLs !== undefined;
    if (urls && (rule.resources ?? rule.apiGroups ?? rule.resourceNames) !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: ['nonResourceURLs'],
        message: 'nonResourceURLs cannot be combined with apiGroups/resources/resourceNames',
      });
    if (!urls && (rule.resources === undefined || rule.apiGroups === undefined))
      ctx.addIssue({
        code: 'custom',
        path: ['resources'],
        message: 'a rule needs apiGroups and resources, or nonResourceURLs',
      });
  });
const subject = z.strictObject({
  kind: z.enum(['ServiceAccount', 'User', 'Group']),
  name: z.string(),
  namespace: z.string().optional(),
  apiGroup: z.string().optional(),
});
const roleRef = z.strictObject({
  apiGroup: z.literal('rbac.authorization.k8s.io'),
  kind: z.enum(['Role', 'ClusterRole']),
  name: z.string(),
});
const clusterRole = z.strictObject({
  ...typed('rbac.authorization.k8s.io/v1', 'ClusterRole'),
  metadata: metadata('cluster'),
  rules: z.array(clusterPolicyRule),
});
const role = z.strictObject({
  ...typed('rbac.authorization.k8s.io/v1', 'Role'),
  metadata: metadata('namespaced'),
  rules: z.array(policyRule),
});
const clusterRoleBinding = z.strictObject({
  ...typed('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding'),
  metadata: metadata('cluster'),
  roleRef,
  subjects: z.array(subject).min(1),
});
const roleBinding = z.strictObject({
  ...typed('rbac.authorization.k8s.io/v1', 'RoleBinding'),
  metadata: metadata('namespaced'),
  roleRef,
  subjects: z.array(subject).min(1),
});
// openshift/api security/v1 SecurityContextConstraints: fields without omitempty are required.
const strategy = (types: readonly [string, ...string[]]) =>
  z.strictObject({
    type: z.enum(types),
    uid: z.number().optional(),
    uidRangeMin: z.number().optional(),
    uidRangeMax: z.number().optional(),
    ranges: z.array(z.strictObject({ min: z.number(), max: z.number() })).optional(),
    seLinuxOptions: z.record(z.string(), z.string()).optional(),
  });
const scc = z.strictObject({
  ...typed('security.openshift.io/v1', 'SecurityContextConstraints'),
  metadata: metadata('cluster'),
  priority: z.number().int().nullable(),
  allowPrivilegedContainer: z.boolean(),
  defaultAddCapabilities: z.array(z.string()).nullable(),
  requiredDropCapabilities: z.array(z.string()).nullable(),
  allowedCapabilities: z.array(z.string()).nullable(),
  allowHostDirVolumePlugin: z.boolean(),
  volumes: z.array(
    z.enum([
      '*',
      'configMap',
      'downwardAPI',
      'emptyDir',
      'ephemeral',
      'hostPath',
      'persistentVolumeClaim',
      'projected',
      'secret',
      'csi',
      'none',
    ]),
  ),
  allowedFlexVolumes: z
    .array(z.strictObject({ driver: z.string() }))
    .nullable()
    .optional(),
  allowHostNetwork: z.boolean(),
  allowHostPorts: z.boolean(),
  allowHostPID: z.boolean(),
  allowHostIPC: z.boolean(),
  defaultAllowPrivilegeEscalation: z.boolean().nullable().optional(),
  allowPrivilegeEscalation: z.boolean().nullable().optional(),
  seLinuxContext: strategy(['MustRunAs', 'RunAsAny']),
  runAsUser: strategy(['MustRunAs', 'MustRunAsRange', 'MustRunAsNonRoot', 'RunAsAny']),
  supplementalGroups: strategy(['MustRunAs', 'RunAsAny']),
  fsGroup: strategy(['MustRunAs', 'RunAsAny']),
  readOnlyRootFilesystem: z.boolean(),
  users: z.array(z.string()),
  groups: z.array(z.string()),
  seccompProfiles: z.array(z.string()).optional(),
  allowedUnsafeSysctls: z.array(z.string()).optional(),
  forbiddenSysctls: z.array(z.string()).optional(),
});
// openshift/api console/v1 ConsolePlugin.
const consolePluginService = z.strictObject({
  name: dns1123Label,
  namespace: dns1123Label,
  port,
});
const consolePlugin = z.strictObject({
  ...typed('console.openshift.io/v1', 'ConsolePlugin'),
  metadata: metadata('cluster'),
  spec: z.strictObject({
    displayName: z.string().min(1),
    i18n: z.strictObject({ loadType: z.enum(['Preload', 'Lazy', '']) }),
    backend: z.strictObject({
      type: z.literal('Service'),
      service: consolePluginService
        .extend({ basePath: z.string().startsWith('/').optional() })
        .strict(),
    }),
    proxy: z
      .array(
        z.strictObject({
          alias: z
            .string()
            .min(1)
            .max(128)
            .regex(/^[A-Za-z0-9-_]+$/),
          caCertificate: z.string().optional(),
          authorization: z.enum(['UserToken', 'None']).optional(),
          endpoint: z.strictObject({ type: z.literal('Service'), service: consolePluginService }),
        }),
      )
      .optional(),
    contentSecurityPolicy: z
      .array(z.strictObject({ directive: z.string(), values: z.array(z.string()) }))
      .optional(),
  }),
});
// prometheus-operator monitoring.coreos.com/v1 ServiceMonitor.
const serviceMonitor = z.strictObject({
  ...typed('monitoring.coreos.com/v1', 'ServiceMonitor'),
  metadata: metadata('namespaced'),
  spec: z.strictObject({
    selector: labelSelector,
    namespaceSelector: z
      .strictObject({ matchNames: z.array(z.string()).optional(), any: z.boolean().optional() })
      .optional(),
    endpoints: z
      .array(
        z.strictObject({
          port: z.string(),
          path: z.string().startsWith('/').optional(),
          scheme: z.enum(['http', 'https']).optional(),
          interval: z
            .string()
            .regex(/^[0-9]+(ms|s|m|h)$/)
            .optional(),
          scrapeTimeout: z.string().optional(),
          // Deprecated in favour of `authorization`, still served; a path in Prometheus's pod.
          bearerTokenFile: absolutePath.optional(),
          authorization: z
            .strictObject({
              type: z.string().optional(),
              credentials: z.strictObject({
                name: z.string(),
                key: z.string(),
                optional: z.boolean().optional(),
              }),
            })
            .optional(),
          tlsConfig: z
            .strictObject({
              serverName: z.string().optional(),
              insecureSkipVerify: z.boolean().optional(),
              ca: z
                .strictObject({
                  configMap: z.strictObject({ name: z.string(), key: z.string() }).optional(),
                  secret: z.strictObject({ name: z.string(), key: z.string() }).optional(),
                })
                .optional(),
            })
            .optional(),
          relabelings: z
            .array(
              z.strictObject({
                sourceLabels: z.array(z.string()).optional(),
                targetLabel: z.string().optional(),
                action: z
                  .enum(['replace', 'keep', 'drop', 'labelmap', 'labeldrop', 'labelkeep'])
                  .optional(),
                regex: z.string().optional(),
                replacement: z.string().optional(),
              }),
            )
            .optional(),
        }),
      )
      .min(1),
  }),
});

const schemas: Record<string, z.ZodType> = {
  'v1/ConfigMap': configMap,
  'v1/ServiceAccount': serviceAccount,
  'v1/Service': service,
  'v1/PersistentVolumeClaim': pvc,
  'apps/v1/Deployment': deployment,
  'apps/v1/DaemonSet': daemonSet,
  'policy/v1/PodDisruptionBudget': podDisruptionBudget,
  'batch/v1/Job': job,
  'rbac.authorization.k8s.io/v1/ClusterRole': clusterRole,
  'rbac.authorization.k8s.io/v1/Role': role,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': clusterRoleBinding,
  'rbac.authorization.k8s.io/v1/RoleBinding': roleBinding,
  'security.openshift.io/v1/SecurityContextConstraints': scc,
  'console.openshift.io/v1/ConsolePlugin': consolePlugin,
  'monitoring.coreos.com/v1/ServiceMonitor': serviceMonitor,
};

/** The kinds the chart may render; anything else is a test failure. */
export const knownKinds = Object.keys(schemas);

/** Validation problems of one object as readable lines; empty when it is valid. */
export function validateObject(object: { apiVersion?: unknown; kind?: unknown }): string[] {
  const key = `${String(object.apiVersion)}/${String(object.kind)}`;
  const schema = schemas[key];
  if (!schema) return [`no schema for ${key}: the chart renders a kind this test does not know`];
  const result = schema.safeParse(object);
  if (result.success) return [];
  return result.error.issues.map((issue) => {
    const where = issue.path.join('.');
    if (issue.code === 'unrecognized_keys')
      return `${key} ${where}: unknown field(s) ${issue.keys.join(', ')}`;
    return `${key} ${where}: ${issue.message}`;
  });
}
