{{/*
The saga's fixed shape, as the code has it (not configuration): each service's Python module,
settings prefix, DB role and schema (deploy/sql/init.sql), consumer group
(shared_events.topology.CONSUMER_GROUPS), the topics it produces
(shared_events.topology.SERVICES: writes) and the topics it consumes
(<service>_service.consumer.TOPICS). deploy/tests/test_helm_chart.py checks it against the code.
*/}}
{{- define "saga.topology" -}}
order:
  module: order_service
  prefix: ORDER
  role: order_service
  schema: orders
  group: order-service
  produces: [order-events]
  # product-catalog: the catalog; inventory-events also carries what releases before
  # shared-events 2.4.0 wrote of it.
  consumes: [payment-events, inventory-events, product-catalog]
  # The operator pages (/ui) read every group's dead letters.
  readsDeadLetters: true
payment:
  module: payment_service
  prefix: PAYMENT
  role: payment_service
  schema: payments
  group: payment-service
  produces: [payment-events]
  consumes: [order-events]
  readsDeadLetters: false
inventory:
  module: inventory_service
  prefix: INVENTORY
  role: inventory_service
  schema: inventory
  group: inventory-service
  produces: [inventory-events, product-catalog]
  consumes: [order-events, payment-events]
  readsDeadLetters: false
{{- end -}}

{{/*
Settings a topic must have, by topic (shared_events.topics.TOPIC_CONFIGS): the catalog is
compacted, so it keeps every product's latest record however old. Others: the defaults.
*/}}
{{- define "saga.topicConfigs" -}}
product-catalog:
  cleanup.policy: compact
{{- end -}}

{{- define "saga.serviceNames" -}}
[order, payment, inventory]
{{- end -}}

{{- define "saga.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "saga.fullname" -}}
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

{{- define "saga.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "saga.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: saga
{{- end -}}

{{/* Selector labels of one service: (dict "root" $ "name" "order"). */}}
{{- define "saga.selectorLabels" -}}
app.kubernetes.io/name: {{ include "saga.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{- define "saga.componentLabels" -}}
{{ include "saga.labels" .root }}
app.kubernetes.io/component: {{ .name }}
{{- end -}}

{{/* One service's settings: serviceDefaults overlaid with services.<name>. */}}
{{- define "saga.service" -}}
{{- $own := index .root.Values.services .name | default dict -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.serviceDefaults) (deepCopy $own)) -}}
{{- end -}}

{{- define "saga.serviceName" -}}
{{- printf "%s-%s" (include "saga.fullname" .root) .name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "saga.serviceAccountName" -}}
{{- include "saga.fullname" . -}}
{{- end -}}

{{- define "saga.image" -}}
{{- $svc := fromYaml (include "saga.service" .) -}}
{{- $repo := $svc.image.repository -}}
{{- with .root.Values.image.registry }}{{ $repo = printf "%s/%s" (trimSuffix "/" .) $repo }}{{ end -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion (default .root.Values.image.tag $svc.image.tag)) -}}
{{- end -}}

{{/* ---- PostgreSQL ---- */}}

{{- define "saga.pgClusterName" -}}
{{- printf "%s-pg" (include "saga.fullname" .) -}}
{{- end -}}

{{- define "saga.pgHost" -}}
{{- if .Values.postgres.host -}}
{{- .Values.postgres.host -}}
{{- else if .Values.postgres.cluster.create -}}
{{- printf "%s-rw" (include "saga.pgClusterName" .) -}}
{{- else -}}
{{- fail "postgres.host is required when postgres.cluster.create is false (an existing PostgreSQL)" -}}
{{- end -}}
{{- end -}}

{{- define "saga.dbSecretName" -}}
{{- $svc := fromYaml (include "saga.service" .) -}}
{{- default (printf "%s-db" (include "saga.serviceName" .)) $svc.db.existingSecret -}}
{{- end -}}

{{/* The migration Jobs' hook phases (see values: migrations). */}}
{{- define "saga.migrationHook" -}}
{{- if .Values.migrations.hook -}}
{{- .Values.migrations.hook -}}
{{- else if .Values.postgres.cluster.create -}}
post-install,pre-upgrade
{{- else -}}
pre-install,pre-upgrade
{{- end -}}
{{- end -}}

{{/* ---- Kafka ---- */}}

{{- define "saga.kafkaClusterName" -}}
{{- default (include "saga.fullname" .) .Values.kafka.clusterName -}}
{{- end -}}

{{- define "saga.kafkaBootstrap" -}}
{{- if .Values.kafka.bootstrapServers -}}
{{- .Values.kafka.bootstrapServers -}}
{{- else if or .Values.kafka.cluster.create .Values.kafka.clusterName -}}
{{- printf "%s-kafka-bootstrap:9092" (include "saga.kafkaClusterName" .) -}}
{{- else -}}
{{- fail "kafka.bootstrapServers is required when kafka.cluster.create is false and kafka.clusterName is empty" -}}
{{- end -}}
{{- end -}}

{{- define "saga.kafkaAuth" -}}
{{- $auth := .Values.kafka.authentication -}}
{{- if not (has $auth (list "scram-sha-512" "none")) -}}
{{- fail (printf "kafka.authentication must be scram-sha-512 or none, not %q" $auth) -}}
{{- end -}}
{{- $auth -}}
{{- end -}}

{{/* The Kafka user (SCRAM username, KafkaUser name) of one service. */}}
{{- define "saga.kafkaUser" -}}
{{- $svc := fromYaml (include "saga.service" .) -}}
{{- $shape := index (fromYaml (include "saga.topology" .root)) .name -}}
{{- default (printf "%s-%s" (include "saga.fullname" .root) $shape.group | trunc 63 | trimSuffix "-") $svc.kafka.username -}}
{{- end -}}

{{- define "saga.kafkaSecretName" -}}
{{- $svc := fromYaml (include "saga.service" .) -}}
{{- default (printf "%s-kafka" (include "saga.serviceName" .)) $svc.kafka.existingSecret -}}
{{- end -}}

{{/* A Kubernetes name for a topic (dead-letter topics have a dot). */}}
{{- define "saga.topicResourceName" -}}
{{- printf "%s-%s" (include "saga.fullname" .root) (.topic | replace "." "-") | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/*
A password for a Secret the chart owns: the value given, else the one the Secret already
holds (kept across upgrades), else a new random one. (dict "root" $ "secret" NAME "value" V)
*/}}
{{- define "saga.password" -}}
{{- if .value -}}
{{- .value -}}
{{- else -}}
{{- $existing := lookup "v1" "Secret" .root.Release.Namespace .secret -}}
{{- if and $existing $existing.data (hasKey $existing.data "password") -}}
{{- index $existing.data "password" | b64dec -}}
{{- else -}}
{{- randAlphaNum 32 -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Checks that hold for the whole release. */}}
{{- define "saga.validate" -}}
{{- $topics := .Values.kafka.topics -}}
{{- if lt (int $topics.replicas) (int $topics.minInsyncReplicas) -}}
{{- fail "kafka.topics.minInsyncReplicas cannot exceed kafka.topics.replicas" -}}
{{- end -}}
{{- if and .Values.kafka.cluster.create (gt (int $topics.replicas) (int .Values.kafka.cluster.replicas)) -}}
{{- fail "kafka.topics.replicas cannot exceed kafka.cluster.replicas (the brokers)" -}}
{{- end -}}
{{- range $name := fromYamlArray (include "saga.serviceNames" .) -}}
{{- $svc := fromYaml (include "saga.service" (dict "root" $ "name" $name)) -}}
{{- if gt (int $svc.maxReplicas) (int $topics.partitions) -}}
{{- fail (printf "services.%s.maxReplicas (%d) cannot exceed kafka.topics.partitions (%d): the extra consumers would get no partition" $name (int $svc.maxReplicas) (int $topics.partitions)) -}}
{{- end -}}
{{- if gt (int $svc.minReplicas) (int $svc.maxReplicas) -}}
{{- fail (printf "services.%s.minReplicas cannot exceed its maxReplicas" $name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
