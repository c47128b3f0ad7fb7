{{/*
Names, labels, image references and the RBAC rules, shared by the templates.
*/}}

{{- define "molting.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: the release name alone when it already contains the chart's name. */}}
{{- define "molting.fullname" -}}
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

{{- define "molting.selectorLabels" -}}
app.kubernetes.io/name: {{ include "molting.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "molting.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "molting.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: molting
{{- end }}

{{- define "molting.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "molting.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* An image reference from {repository, tag, digest}: the digest wins, the tag defaults to appVersion. */}}
{{- define "molting.imageRef" -}}
{{- $image := index . 0 }}
{{- $root := index . 1 }}
{{- if $image.digest }}
{{- printf "%s@%s" $image.repository $image.digest }}
{{- else }}
{{- printf "%s:%s" $image.repository (default $root.Chart.AppVersion $image.tag) }}
{{- end }}
{{- end }}

{{- define "molting.operatorImage" -}}
{{- include "molting.imageRef" (list .Values.image .) }}
{{- end }}

{{- define "molting.trainingImage" -}}
{{- include "molting.imageRef" (list .Values.training.image .) }}
{{- end }}

{{/* The namespaces that hold MoltingModels and get namespaced objects (Roles, the artifacts claim). */}}
{{- define "molting.modelNamespaces" -}}
{{- if .Values.watch.allNamespaces }}
{{- list .Release.Namespace | toJson }}
{{- else }}
{{- .Values.watch.namespaces | toJson }}
{{- end }}
{{- end }}

{{/* The namespaces the chart creates the artifacts claim in. */}}
{{- define "molting.artifactNamespaces" -}}
{{- if .Values.artifacts.namespaces }}
{{- .Values.artifacts.namespaces | toJson }}
{{- else }}
{{- include "molting.modelNamespaces" . }}
{{- end }}
{{- end }}

{{/*
The pod security context every pod of this chart runs with: Pod Security "restricted".
*/}}
{{- define "molting.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "molting.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
privileged: false
capabilities:
  drop:
    - ALL
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
The operator's rules, identical in the ClusterRole (all namespaces) and in each Role (listed
namespaces). docs/security.md justifies each one; tests/chart asserts them exactly.
*/}}
{{- define "molting.operatorRules" -}}
# MoltingModels: kopf lists and watches them, and patches its finalizer and annotations.
- apiGroups: ["molting.dev"]
  resources: ["moltingmodels"]
  verbs: ["get", "list", "watch", "patch"]
# The status subresource: phase, conditions, revisions and traffic.
- apiGroups: ["molting.dev"]
  resources: ["moltingmodels/status"]
  verbs: ["get", "patch"]
# Children carry an ownerReference with blockOwnerDeletion, which the
# OwnerReferencesPermissionEnforcement admission plugin allows only with this right.
- apiGroups: ["molting.dev"]
  resources: ["moltingmodels/finalizers"]
  verbs: ["update"]
# Training and evaluation Jobs.
- apiGroups: ["batch"]
  resources: ["jobs"]
  verbs: ["create", "get", "list", "watch", "patch", "delete"]
# The request ConfigMaps it owns; it also reads a dataset or question ConfigMap the spec names.
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["create", "get", "list", "watch", "patch", "delete"]
# Job pods: termination messages (summaries) and the reason a pod is stuck.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["get", "list", "watch"]
# Training progress lines.
- apiGroups: [""]
  resources: ["pods/log"]
  verbs: ["get"]
# An Event on every transition (kopf posts core/v1 Events).
- apiGroups: [""]
  resources: ["events"]
  verbs: ["create", "patch"]
- apiGroups: ["events.k8s.io"]
  resources: ["events"]
  verbs: ["create", "patch"]
{{- if .Values.kuberay.enabled }}
# The RayService that serves stable and candidate adapters.
- apiGroups: ["ray.io"]
  resources: ["rayservices"]
  verbs: ["create", "get", "list", "watch", "patch"]
{{- end }}
{{- end }}
