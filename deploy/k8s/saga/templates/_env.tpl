{{/*
Environment of one service's containers, by its settings prefix (the services' settings.py).
(dict "root" $ "name" "order" "migrate" false)
*/}}
{{- define "saga.dbEnv" -}}
{{- $root := .root -}}
{{- $shape := index (fromYaml (include "saga.topology" $root)) .name -}}
{{- $p := $shape.prefix -}}
- name: {{ $p }}_ENVIRONMENT
  value: {{ $root.Values.environment | quote }}
- name: {{ $p }}_LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
- name: {{ $p }}_DB_HOST
  value: {{ include "saga.pgHost" $root | quote }}
- name: {{ $p }}_DB_PORT
  value: {{ $root.Values.postgres.port | quote }}
- name: {{ $p }}_DB_NAME
  value: {{ $root.Values.postgres.database | quote }}
- name: {{ $p }}_DB_USER
  value: {{ $shape.role | quote }}
- name: {{ $p }}_DB_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "saga.dbSecretName" . }}
      key: password
{{- end -}}

{{/*
How the service's Kafka clients connect (the services' KafkaClientSettings, <PREFIX>_KAFKA_*):
with kafka.authentication=scram-sha-512 as its KafkaUser over SASL_PLAINTEXT (the listener has
no TLS), the credentials from its Secret; with none, PLAINTEXT (the services' default).
(dict "root" $ "name" "order")
*/}}
{{- define "saga.kafkaEnv" -}}
{{- $root := .root -}}
{{- $p := (index (fromYaml (include "saga.topology" $root)) .name).prefix -}}
- name: {{ $p }}_KAFKA_BOOTSTRAP_SERVERS
  value: {{ include "saga.kafkaBootstrap" $root | quote }}
{{- if eq (include "saga.kafkaAuth" $root) "scram-sha-512" }}
- name: {{ $p }}_KAFKA_SECURITY_PROTOCOL
  value: SASL_PLAINTEXT
- name: {{ $p }}_KAFKA_SASL_MECHANISM
  value: SCRAM-SHA-512
- name: {{ $p }}_KAFKA_SASL_USERNAME
  valueFrom:
    secretKeyRef:
      name: {{ include "saga.kafkaSecretName" . }}
      key: username
- name: {{ $p }}_KAFKA_SASL_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "saga.kafkaSecretName" . }}
      key: password
{{- end }}
{{- end -}}

{{- define "saga.serveEnv" -}}
{{- $root := .root -}}
{{- $svc := fromYaml (include "saga.service" .) -}}
{{- $shape := index (fromYaml (include "saga.topology" $root)) .name -}}
{{- $p := $shape.prefix -}}
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{ include "saga.dbEnv" . }}
- name: {{ $p }}_HTTP_HOST
  value: "0.0.0.0"
- name: {{ $p }}_HTTP_PORT
  value: {{ $svc.port | quote }}
{{ include "saga.kafkaEnv" . }}
{{- if $root.Values.otel.endpoint }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ $root.Values.otel.endpoint | quote }}
- name: OTEL_SDK_DISABLED
  value: "false"
- name: OTEL_RESOURCE_ATTRIBUTES
  value: "k8s.namespace.name=$(POD_NAMESPACE),k8s.pod.name=$(POD_NAME)"
{{- else }}
- name: OTEL_SDK_DISABLED
  value: "true"
{{- end }}
{{- if eq .name "order" }}
- name: ORDER_PAYMENT_URL
  value: {{ printf "http://%s:%v" (include "saga.serviceName" (dict "root" $root "name" "payment")) (fromYaml (include "saga.service" (dict "root" $root "name" "payment"))).port | quote }}
- name: ORDER_INVENTORY_URL
  value: {{ printf "http://%s:%v" (include "saga.serviceName" (dict "root" $root "name" "inventory")) (fromYaml (include "saga.service" (dict "root" $root "name" "inventory"))).port | quote }}
{{- with $svc.jaegerUiUrl }}
- name: ORDER_JAEGER_UI_URL
  value: {{ . | quote }}
{{- end }}
{{- end }}
{{- range $key, $value := $svc.env }}
- name: {{ $key }}
  value: {{ $value | quote }}
{{- end }}
{{- end -}}
