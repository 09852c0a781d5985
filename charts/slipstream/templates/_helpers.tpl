{{/*
Names are fixed, not derived from the release name: the plugin is cluster-scoped and the
components find each other by these names (the console plugin is called `slipstream`, the hub
trusts reports only from the ServiceAccount `slipstream-agent`, the console wizard edits the
ConfigMap `slipstream-agent`). Install one release per cluster.
*/}}
{{- define "slipstream.pluginName" -}}slipstream{{- end }}
{{- define "slipstream.pluginService" -}}slipstream-plugin{{- end }}
{{- define "slipstream.hubName" -}}slipstream-hub{{- end }}
{{- define "slipstream.agentName" -}}slipstream-agent{{- end }}
{{- define "slipstream.patcherName" -}}slipstream-console-patcher{{- end }}
{{- define "slipstream.hubPort" -}}8443{{- end }}
{{- define "slipstream.pluginPort" -}}9443{{- end }}

{{/* The store CRI-O's storage.conf lists (ContainerRuntimeConfig additionalLayerStores). */}}
{{- define "slipstream.storePath" -}}{{ trimSuffix "/" .Values.agent.stateDir }}/store{{- end }}

{{- define "slipstream.hubURL" -}}
https://{{ include "slipstream.hubName" . }}.{{ .Release.Namespace }}.svc:{{ include "slipstream.hubPort" . }}
{{- end }}

{{- define "slipstream.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: slipstream
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: slipstream
{{- end }}

{{/* Selector labels of one component; call with (dict "ctx" $ "component" "hub"). */}}
{{- define "slipstream.selectorLabels" -}}
app.kubernetes.io/name: slipstream
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{- define "slipstream.componentLabels" -}}
{{ include "slipstream.labels" .ctx }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* An image reference from images.<key>: digest wins over tag; the tag defaults to appVersion. */}}
{{- define "slipstream.image" -}}
{{- $image := index .ctx.Values.images .key -}}
{{- $repository := required (printf "images.%s.repository is required" .key) $image.repository -}}
{{- if $image.digest -}}
{{ $repository }}@{{ $image.digest }}
{{- else -}}
{{ $repository }}:{{ default .ctx.Chart.AppVersion $image.tag }}
{{- end -}}
{{- end }}

{{/* imagePullSecrets at the given indent, or nothing; call with (dict "ctx" $ "indent" 6). */}}
{{- define "slipstream.imagePullSecrets" -}}
{{- with .ctx.Values.images.pullSecrets }}
{{- $list := list }}
{{- range . }}{{ $list = append $list (dict "name" .) }}{{ end }}
{{- dict "imagePullSecrets" $list | toYaml | nindent $.indent }}
{{- end }}
{{- end }}

{{/* The security context of every non-root container (restricted-v2 SCC compatible). */}}
{{- define "slipstream.restrictedContainerSecurity" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities:
  drop: [ALL]
{{- end }}

{{- define "slipstream.restrictedPodSecurity" -}}
runAsNonRoot: true
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* The agent's configuration file (contract: helper-briefs/contracts.md, backend/src/agent/config.ts). */}}
{{- define "slipstream.agentConfig" -}}
{{- $a := .Values.agent -}}
mountpoint: {{ include "slipstream.storePath" . }}
stateDir: {{ trimSuffix "/" $a.stateDir }}
cacheSize: {{ $a.cacheSize | quote }}
cacheMinFreePercent: {{ $a.cacheMinFreePercent }}
lookupTimeoutSeconds: {{ $a.lookupTimeoutSeconds }}
maxIndexEntries: {{ int64 $a.maxIndexEntries }}
prefetch:
  enabled: {{ $a.prefetch.enabled }}
  maxBytes: {{ $a.prefetch.maxBytes | quote }}
  maxSeconds: {{ $a.prefetch.maxSeconds }}
backgroundFetch:
  enabled: {{ $a.backgroundFetch.enabled }}
  quietPeriodSeconds: {{ $a.backgroundFetch.quietPeriodSeconds }}
  maxPauseSeconds: {{ $a.backgroundFetch.maxPauseSeconds }}
  concurrency: {{ $a.backgroundFetch.concurrency }}
registriesConf: {{ trimSuffix "/" $a.registries.configDir }}/registries.conf
certsDirs:
  - {{ trimSuffix "/" $a.registries.configDir }}/certs.d
{{- range $a.registries.extraCertDirs }}
  - {{ trimSuffix "/" . }}
{{- end }}
{{- if or $a.auth.files $a.auth.pullSecrets }}
authFiles:
{{- range $a.auth.files }}
  - {{ . }}
{{- end }}
{{- range $a.auth.pullSecrets }}
  - /etc/slipstream/pull-secrets/{{ . }}/.dockerconfigjson
{{- end }}
{{- else }}
authFiles: []
{{- end }}
metricsAddress: ':{{ $a.metricsPort }}'
hub:
  url: {{ include "slipstream.hubURL" . }}
  tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token
  caFile: /var/run/secrets/kubernetes.io/serviceaccount/service-ca.crt
  reportIntervalSeconds: {{ $a.reportIntervalSeconds }}
nodeName: ${NODE_NAME}
logLevel: {{ $a.logLevel }}
{{- end }}

{{/* The hub's configuration file. */}}
{{- define "slipstream.hubConfig" -}}
listen: ':{{ include "slipstream.hubPort" . }}'
tls:
  certFile: /var/run/secrets/slipstream-hub/tls/tls.crt
  keyFile: /var/run/secrets/slipstream-hub/tls/tls.key
dbPath: /var/lib/slipstream-hub/hub.db
retentionDays: {{ .Values.hub.retentionDays }}
namespace: {{ .Release.Namespace }}
agentConfigMap: {{ include "slipstream.agentName" . }}
logLevel: {{ .Values.hub.logLevel }}
{{- end }}
