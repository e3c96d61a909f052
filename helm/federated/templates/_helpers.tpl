{{/* Names */}}
{{- define "federated.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "federated.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "federated.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "federated.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: federated
{{- end -}}

{{/* Selector labels of one component: include "federated.selectorLabels" (list . "coordinator") */}}
{{- define "federated.selectorLabels" -}}
{{- $ := index . 0 -}}
app.kubernetes.io/name: {{ include "federated.name" $ }}
app.kubernetes.io/instance: {{ $.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}

{{- define "federated.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "federated.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "federated.image" -}}
{{- $img := index . 0 -}}{{- $ := index . 1 -}}
{{- printf "%s:%s" $img.repository (default $.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{/* Service and Secret names */}}
{{- define "federated.grpcService" -}}{{ include "federated.fullname" . }}-grpc{{- end -}}
{{- define "federated.adminService" -}}{{ include "federated.fullname" . }}-admin{{- end -}}
{{- define "federated.siloService" -}}{{ include "federated.fullname" . }}-silo{{- end -}}
{{- define "federated.redisService" -}}{{ include "federated.fullname" . }}-redis{{- end -}}
{{- define "federated.tokensSecret" -}}{{ include "federated.fullname" . }}-enrollment{{- end -}}
{{- define "federated.operatorsSecret" -}}{{ include "federated.fullname" . }}-operators{{- end -}}
{{- define "federated.operatorKeySecret" -}}{{ include "federated.fullname" . }}-operator-key{{- end -}}
{{/* Non-empty when no operator credential is configured: the chart generates an admin key. */}}
{{- define "federated.operatorKeyGenerated" -}}
{{- if and (not .Values.operators.apiKeys) (not .Values.operators.existingSecret) (not .Values.operators.jwt.authority) -}}true{{- end -}}
{{- end -}}
{{- define "federated.agentSecret" -}}{{ include "federated.fullname" . }}-agent{{- end -}}

{{- define "federated.tlsSecret" -}}
{{- if eq .Values.tls.source "existingSecret" -}}
{{- required "tls.existingSecret is required when tls.source=existingSecret" .Values.tls.existingSecret -}}
{{- else -}}
{{- include "federated.fullname" . }}-tls
{{- end -}}
{{- end -}}

{{- define "federated.redisSecret" -}}
{{- if .Values.redis.auth.existingSecret.name -}}
{{- .Values.redis.auth.existingSecret.name -}}
{{- else -}}
{{- include "federated.fullname" . }}-redis
{{- end -}}
{{- end -}}

{{- define "federated.redisSecretKey" -}}
{{- if .Values.redis.auth.existingSecret.name -}}{{ .Values.redis.auth.existingSecret.key }}{{- else -}}redis-password{{- end -}}
{{- end -}}

{{/* Whether the chart itself creates the Redis password Secret. */}}
{{- define "federated.redisSecretCreate" -}}
{{- if and .Values.redis.auth.enabled (not .Values.redis.auth.existingSecret.name) -}}true{{- end -}}
{{- end -}}

{{/* host:port of Redis */}}
{{- define "federated.redisAddress" -}}
{{- if eq .Values.redis.mode "external" -}}
{{- required "redis.external.address is required when redis.mode=external" .Values.redis.external.address -}}
{{- else -}}
{{- include "federated.redisService" . }}:6379
{{- end -}}
{{- end -}}

{{/* The agents' secret and key */}}
{{- define "federated.agentSecretName" -}}
{{- default (include "federated.agentSecret" .) .Values.agents.enrollmentToken.existingSecret.name -}}
{{- end -}}
{{- define "federated.agentSecretKey" -}}
{{- if .Values.agents.enrollmentToken.existingSecret.name -}}{{ .Values.agents.enrollmentToken.existingSecret.key }}{{- else -}}enrollment-token{{- end -}}
{{- end -}}

{{/* Mutual TLS: the CA Secret, and whether anything uses it */}}
{{- define "federated.mtlsSecret" -}}
{{- if eq .Values.mtls.ca.source "existingSecret" -}}
{{- required "mtls.ca.existingSecret is required when mtls.ca.source=existingSecret" .Values.mtls.ca.existingSecret -}}
{{- else -}}
{{- include "federated.fullname" . }}-mtls
{{- end -}}
{{- end -}}
{{- define "federated.agentsMtls" -}}{{ if ne .Values.mtls.agentClientCertificates "Off" }}true{{ end }}{{- end -}}
{{- define "federated.mtlsEnabled" -}}{{ if or .Values.mtls.silos (include "federated.agentsMtls" .) }}true{{ end }}{{- end -}}

{{/* Whether the coordinator has enrollment tokens from Secrets (mounted as files) */}}
{{- define "federated.coordinatorTokens" -}}
{{- if or (and .Values.enrollment.existingSecret.name .Values.enrollment.existingSecret.tokens) (and (not .Values.enrollment.existingSecret.name) .Values.enrollment.tokens) .Values.agents.enabled }}true{{ end -}}
{{- end -}}

{{/* https or http */}}
{{- define "federated.scheme" -}}{{ if .Values.tls.enabled }}https{{ else }}http{{ end }}{{- end -}}

{{/* In-cluster address of the agents' endpoint */}}
{{- define "federated.grpcUrl" -}}
{{- printf "%s://%s.%s.svc:%v" (include "federated.scheme" .) (include "federated.grpcService" .) .Release.Namespace .Values.service.grpc.port -}}
{{- end -}}

{{/*
A value kept across upgrades: the existing Secret's key if the release already has it, else a new random one.
include "federated.keptSecret" (dict "ctx" . "secret" NAME "key" KEY "length" 40) -> base64 value
*/}}
{{- define "federated.keptSecret" -}}
{{- $existing := lookup "v1" "Secret" .ctx.Release.Namespace .secret -}}
{{- if and $existing $existing.data (hasKey $existing.data .key) -}}
{{- index $existing.data .key -}}
{{- else -}}
{{- randAlphaNum (int (default 40 .length)) | b64enc -}}
{{- end -}}
{{- end -}}

{{/* Restricted pod and container security contexts */}}
{{- define "federated.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .runAsUser }}
runAsGroup: {{ .runAsGroup }}
fsGroup: {{ .runAsGroup }}
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "federated.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .runAsUser }}
runAsGroup: {{ .runAsGroup }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/* Cross-field checks the schema cannot express clearly. */}}
{{- define "federated.validate" -}}
{{- if and .Values.coordinator.probes.grpc .Values.tls.enabled -}}
{{- fail "coordinator.probes.grpc needs tls.enabled=false: the kubelet's gRPC probe cannot speak TLS (the /healthz and /readyz probes run over HTTPS)" -}}
{{- end -}}
{{- if and .Values.tls.enabled (eq .Values.tls.source "values") (or (not .Values.tls.certificate) (not .Values.tls.key)) -}}
{{- fail "tls.source=values needs tls.certificate and tls.key (PEM)" -}}
{{- end -}}
{{- if and (eq .Values.redis.mode "external") (not .Values.redis.external.address) -}}
{{- fail "redis.mode=external needs redis.external.address (host:port)" -}}
{{- end -}}
{{- if and .Values.redis.auth.enabled (eq .Values.redis.mode "external") (not .Values.redis.auth.existingSecret.name) (not .Values.redis.auth.password) -}}
{{- fail "redis.mode=external with redis.auth.enabled needs redis.auth.existingSecret.name or redis.auth.password" -}}
{{- end -}}
{{- if and .Values.agents.enabled (not .Values.agents.federationId) -}}
{{- fail "agents.enabled needs agents.federationId (the federation the in-cluster agents join)" -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) -}}
{{- fail "ingress.enabled needs ingress.host" -}}
{{- end -}}
{{- if and .Values.agents.enrollmentToken.value (lt (len .Values.agents.enrollmentToken.value) 16) -}}
{{- fail "agents.enrollmentToken.value needs at least 16 characters" -}}
{{- end -}}
{{- if lt (int64 .Values.coordinator.staging.maxBytes) (int64 .Values.coordinator.maxUpdateBytes) -}}
{{- fail "coordinator.staging.maxBytes must be at least coordinator.maxUpdateBytes: one largest upload must fit the staging" -}}
{{- end -}}
{{- if and .Values.operators.jwt.authority (not .Values.operators.jwt.audience) -}}
{{- fail "operators.jwt.authority needs operators.jwt.audience (the audience the provider issues tokens for)" -}}
{{- end -}}
{{- if and (include "federated.agentsMtls" .) (not .Values.tls.enabled) -}}
{{- fail "mtls.agentClientCertificates needs tls.enabled: client certificates are part of the TLS handshake" -}}
{{- end -}}
{{- if and .Values.metrics.serviceMonitor.tlsConfig .Values.metrics.serviceMonitor.tlsConfig.insecureSkipVerify -}}
{{- fail "metrics.serviceMonitor.tlsConfig.insecureSkipVerify is refused: leave tlsConfig empty to verify against the chart's CA, or give your ca" -}}
{{- end -}}
{{- if .Values.networkPolicy.enabled -}}
{{- if not .Values.networkPolicy.adminFrom -}}
{{- fail "networkPolicy.adminFrom must name who may reach the admin port (a podSelector and/or namespaceSelector); empty would admit everyone" -}}
{{- end -}}
{{- range .Values.networkPolicy.adminFrom -}}
{{- if and (hasKey . "podSelector") (empty .podSelector) (not (hasKey . "namespaceSelector")) -}}
{{- fail "networkPolicy.adminFrom: 'podSelector: {}' admits every pod of the namespace, the agents included; select your operator pods by label" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- range .Values.enrollment.tokens -}}
{{- if and .value (lt (len .value) 16) -}}
{{- fail (printf "enrollment.tokens: the token for federation %q has %d characters; the coordinator needs at least 16" .federation (len .value)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels of a component's pods: include "federated.podLabels" (list . "coordinator") */}}
{{- define "federated.podLabels" -}}
{{ include "federated.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end -}}
