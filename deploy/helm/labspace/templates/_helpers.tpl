{{/* The chart's name. */}}
{{- define "labspace.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name, the base of object names. */}}
{{- define "labspace.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "labspace.selectorLabels" -}}
app.kubernetes.io/name: {{ include "labspace.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "labspace.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{ include "labspace.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "labspace.serviceAccountName" -}}
{{- default (include "labspace.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{/* The ClusterRole and its binding: cluster-wide, so named with the namespace. */}}
{{- define "labspace.clusterRoleName" -}}
{{- printf "%s-%s" .Release.Namespace (include "labspace.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "labspace.secretName" -}}
{{- include "labspace.fullname" . }}
{{- end }}

{{- define "labspace.instance" -}}
{{- default (include "labspace.fullname" .) .Values.instance }}
{{- end }}

{{- define "labspace.publicURL" -}}
{{- if .Values.publicURL }}
{{- .Values.publicURL }}
{{- else if and .Values.ingress.enabled .Values.ingress.host }}
{{- printf "%s://%s" (ternary "https" "http" .Values.ingress.tls.enabled) .Values.ingress.host }}
{{- else }}
{{- printf "http://%s.%s.svc:%v" (include "labspace.fullname" .) .Release.Namespace .Values.service.port }}
{{- end }}
{{- end }}

{{/* The secret key: given, else the one already in the release's Secret, else a new one. */}}
{{- define "labspace.secretKey" -}}
{{- if .Values.secretKey.value }}
{{- .Values.secretKey.value }}
{{- else }}
{{- $old := lookup "v1" "Secret" .Release.Namespace (include "labspace.secretName" .) }}
{{- if and $old $old.data (index $old.data "secret-key") }}
{{- index $old.data "secret-key" | b64dec }}
{{- else }}
{{- randAlphaNum 64 | sha256sum }}
{{- end }}
{{- end }}
{{- end }}

{{/* Whether the chart's Secret holds a value of its own (not an existing Secret's). */}}
{{- define "labspace.ownsDatabase" -}}
{{- if and .Values.database.url (not .Values.database.existingSecret) }}true{{ end }}
{{- end }}
{{- define "labspace.ownsOIDC" -}}
{{- if and .Values.oidc.issuer .Values.oidc.clientSecret (not .Values.oidc.existingSecret) }}true{{ end }}
{{- end }}
{{- define "labspace.ownsAdmin" -}}
{{- if and .Values.adminPassword.value (not .Values.adminPassword.existingSecret) }}true{{ end }}
{{- end }}

{{- define "labspace.hasDatabase" -}}
{{- if or .Values.database.url .Values.database.existingSecret }}true{{ end }}
{{- end }}

{{/* The values' checks, failing the install with what to change. */}}
{{- define "labspace.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not (include "labspace.hasDatabase" .)) }}
{{- fail "replicaCount > 1 needs PostgreSQL: set database.url or database.existingSecret (SQLite serves one replica only)" }}
{{- end }}
{{- if and .Values.secretKey.value (not (regexMatch "^[0-9a-fA-F]{64}$" .Values.secretKey.value)) }}
{{- fail "secretKey.value must be 64 hex digits (openssl rand -hex 32)" }}
{{- end }}
{{- if and .Values.oidc.issuer (not .Values.oidc.clientID) }}
{{- fail "oidc.issuer needs oidc.clientID" }}
{{- end }}
{{- if and .Values.ingress.enabled (not .Values.ingress.host) }}
{{- fail "ingress.enabled needs ingress.host" }}
{{- end }}
{{- end }}

{{/* The --oidc-* flags, when single sign-on is on. */}}
{{- define "labspace.oidcArgs" -}}
{{- with .Values.oidc }}
{{- if .issuer }}
- --oidc-issuer={{ .issuer }}
- --oidc-client-id={{ .clientID }}
{{- with .name }}
- --oidc-name={{ . }}
{{- end }}
{{- with .scopes }}
- --oidc-scopes={{ join "," . }}
{{- end }}
{{- with .usernameClaim }}
- --oidc-username-claim={{ . }}
{{- end }}
{{- with .groupsClaim }}
- --oidc-groups-claim={{ . }}
{{- end }}
{{- if .only }}
- --oidc-only
{{- end }}
{{- with .adminEmails }}
- --oidc-admin-emails={{ join "," . }}
{{- end }}
{{- with .adminGroups }}
- --oidc-admin-groups={{ join "," . }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
