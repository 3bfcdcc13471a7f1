{{- /*
The pods of the secret service and the secret store: pod-CVM pods of no AIWorker, certified by
`attestor init` through their Kata policy's role (docs/design.md D107, D111). The init container,
its `attestor init --renew` sidecar, the certificate mount and the volumes below are what
withWorkloadInit (src/controllers/aiworker/workload.ts) adds to a pod spec without GPUs, as it adds
them to every AI worker pod: a chart test renders them and compares them with withWorkloadInit's
output, so the two cannot drift.
*/ -}}

{{- /* attestor init's image for the role pods: the operator's, pinned by digest. Required. */ -}}
{{- define "attestor.rolePods.image" -}}
{{- $image := include "attestor.initImage" . -}}
{{- if not $image -}}
{{- fail "secretService.enabled and secretStore.enabled need an image pinned by digest (image.digest or workload.initImage): the role pods' Kata policy pins it" -}}
{{- end -}}
{{- $image -}}
{{- end -}}

{{- define "attestor.rolePods.coordinatorUrl" -}}
{{ include "attestor.coordinatorUrl" . }}
{{- end -}}

{{- /* `attestor init` (pod-CVM, no GPUs): the first init container. Its arguments are also the renewal sidecar's. */ -}}
{{- define "attestor.rolePods.initArgs" -}}
- init
- --coordinator={{ include "attestor.rolePods.coordinatorUrl" . }}
- --out=/run/attestor
- --token-file=/var/run/secrets/attestor-workload/token
- --no-gpus
{{- end -}}

{{- define "attestor.rolePods.initBody" -}}
image: {{ include "attestor.rolePods.image" . }}
env:
- { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
- { name: POD_NAMESPACE, valueFrom: { fieldRef: { fieldPath: metadata.namespace } } }
- name: ATTESTOR_COORDINATOR_CA
  value: {{ .Values.tls.caBundle | b64dec | quote }}
resources:
  requests: { cpu: 50m, memory: 64Mi }
  limits: { memory: 128Mi }
# Root of the pod VM without capabilities: configfs-tsm's report directory is root's, key.pem is root's (0400).
securityContext: { runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: [ALL] } }
volumeMounts:
- { name: attestor-certificate, mountPath: /run/attestor }
- { name: attestor-workload-token, mountPath: /var/run/secrets/attestor-workload, readOnly: true }
{{- end -}}

{{- define "attestor.rolePods.initContainers" -}}
- name: attestor-init
  args: {{- include "attestor.rolePods.initArgs" . | nindent 2 }}
  {{- include "attestor.rolePods.initBody" . | nindent 2 }}
# The certificate lives one reattestationInterval: `attestor init --renew` renews it with fresh
# evidence at half its life, and at once from the new mesh CA after a Manifest change (a refusal
# removes cert.pem: the pod stops serving, fail closed). A native sidecar: it starts after
# attestor init and runs beside the main container.
- name: attestor-renew
  restartPolicy: Always
  args: {{- include "attestor.rolePods.initArgs" . | nindent 2 }}
  - --renew
  {{- include "attestor.rolePods.initBody" . | nindent 2 }}
{{- end -}}

{{- /* The certificate volume, read-only, in every container but attestor init's. */ -}}
{{- define "attestor.rolePods.certificateMount" -}}
- { name: attestor-certificate, mountPath: /run/attestor, readOnly: true }
{{- end -}}

{{- /* Memory-backed: the key never touches the node's disk. The projected token is the pod's proof of who it is (audience attestor-workload). */ -}}
{{- define "attestor.rolePods.volumes" -}}
- name: attestor-certificate
  emptyDir: { medium: Memory, sizeLimit: 1Mi }
- name: attestor-workload-token
  projected:
    sources:
    - serviceAccountToken: { path: token, audience: attestor-workload, expirationSeconds: 3600 }
{{- end -}}

{{- define "attestor.secretService.name" -}}{{ include "attestor.fullname" . }}-secret-service{{- end -}}
{{- define "attestor.secretStore.name" -}}{{ include "attestor.fullname" . }}-secret-store{{- end -}}

{{- /* The secret store's member names, their headless Service's DNS names and client URLs. */ -}}
{{- define "attestor.secretStore.memberHost" -}}
{{ .name }}.{{ .service }}.{{ .namespace }}.svc
{{- end -}}

{{- define "attestor.secretStore.clientUrls" -}}
{{- $urls := list -}}
{{- range $i := until (int .Values.secretStore.replicas) -}}
{{- $host := include "attestor.secretStore.memberHost" (dict "name" (printf "%s-%d" (include "attestor.secretStore.name" $) $i) "service" (include "attestor.secretStore.name" $) "namespace" $.Release.Namespace) -}}
{{- $urls = append $urls (printf "https://%s:2379" $host) -}}
{{- end -}}
{{- join "," $urls -}}
{{- end -}}

{{- define "attestor.secretStore.initialCluster" -}}
{{- $members := list -}}
{{- range $i := until (int .Values.secretStore.replicas) -}}
{{- $name := printf "%s-%d" (include "attestor.secretStore.name" $) $i -}}
{{- $host := include "attestor.secretStore.memberHost" (dict "name" $name "service" (include "attestor.secretStore.name" $) "namespace" $.Release.Namespace) -}}
{{- $members = append $members (printf "%s=https://%s:2380" $name $host) -}}
{{- end -}}
{{- join "," $members -}}
{{- end -}}

{{- /* The secret service as AI worker pods reach it: workload.secretServiceUrl, else this chart's secret service when it deploys one. */ -}}
{{- define "attestor.secretServiceUrl" -}}
{{- if .Values.workload.secretServiceUrl -}}
{{ .Values.workload.secretServiceUrl }}
{{- else if .Values.secretService.enabled -}}
https://{{ include "attestor.secretService.name" . }}.{{ .Release.Namespace }}.svc:{{ .Values.secretService.port }}
{{- end -}}
{{- end -}}
