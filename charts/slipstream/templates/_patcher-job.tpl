{{/*
A hook Job that runs files/console-plugins.sh; call with
(dict "ctx" $ "name" "…" "action" "add|remove" "hook" "post-install,post-upgrade").
The Job runs under the patcher ServiceAccount, a regular resource: it exists after install and
is deleted only after the pre-delete hook has finished.
*/}}
{{- define "slipstream.patcherJob" -}}
{{- $ := .ctx -}}
apiVersion: batch/v1
kind: Job
metadata:
  name: {{ .name }}
  namespace: {{ $.Release.Namespace }}
  labels:
    {{- include "slipstream.componentLabels" (dict "ctx" $ "component" "console-patcher") | nindent 4 }}
  annotations:
    helm.sh/hook: {{ .hook }}
    helm.sh/hook-weight: "0"
    helm.sh/hook-delete-policy: before-hook-creation,hook-succeeded
spec:
  backoffLimit: 3
  activeDeadlineSeconds: 300
  template:
    metadata:
      labels:
        {{- include "slipstream.componentLabels" (dict "ctx" $ "component" "console-patcher") | nindent 8 }}
    spec:
      serviceAccountName: {{ include "slipstream.patcherName" $ }}
      restartPolicy: Never
      securityContext:
        {{- include "slipstream.restrictedPodSecurity" $ | nindent 8 }}
      {{- include "slipstream.imagePullSecrets" (dict "ctx" $ "indent" 6) }}
      containers:
        - name: patch-console
          image: {{ include "slipstream.image" (dict "ctx" $ "key" "cli") }}
          imagePullPolicy: {{ $.Values.images.pullPolicy }}
          command:
            - /bin/sh
            - -c
            - {{ $.Files.Get "files/console-plugins.sh" | quote }}
            - console-plugins
            - {{ .action }}
            - {{ include "slipstream.pluginName" $ }}
          securityContext:
            {{- include "slipstream.restrictedContainerSecurity" $ | nindent 12 }}
          resources:
            requests: { cpu: 10m, memory: 32Mi }
            limits: { memory: 128Mi }
          volumeMounts:
            # oc keeps a discovery cache under $HOME.
            - name: home
              mountPath: /home/patcher
          env:
            - name: HOME
              value: /home/patcher
      volumes:
        - name: home
          emptyDir: {}
{{- end }}
