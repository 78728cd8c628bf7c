#!/usr/bin/env bash
# kafka-run-class.sh of the stand-in: the Apache Kafka jars resolved from Maven Central
# (deploy/local/kafka/pom.xml, plus kafka-tools) on the classpath, the distribution's
# environment variables (KAFKA_HEAP_OPTS, KAFKA_JVM_PERFORMANCE_OPTS, KAFKA_OPTS,
# KAFKA_LOG4J_OPTS, KAFKA_GC_LOG_OPTS, KAFKA_JMX_OPTS), then the main class and its arguments.
set -euo pipefail
base_dir=/opt/kafka
if [[ $# -lt 1 ]]; then
  echo "USAGE: $0 [-daemon] [-name servicename] classname [opts]" >&2
  exit 1
fi
log4j_default="$base_dir/config/tools-log4j2.yaml"
if [[ ${1-} == "-name" ]]; then
  shift 2
  log4j_default="$base_dir/config/log4j2.yaml"
fi
if [[ -z "${KAFKA_LOG4J_OPTS-}" ]]; then
  KAFKA_LOG4J_OPTS="-Dlog4j2.configurationFile=$log4j_default"
fi
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx256M}"
KAFKA_JVM_PERFORMANCE_OPTS="${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true}"
# shellcheck disable=SC2086  # the *_OPTS variables are word lists by contract
exec java $KAFKA_HEAP_OPTS $KAFKA_JVM_PERFORMANCE_OPTS ${KAFKA_GC_LOG_OPTS-} ${KAFKA_JMX_OPTS-} \
  $KAFKA_LOG4J_OPTS -Dkafka.logs.dir="${LOG_DIR:-/opt/kafka/logs}" -cp "$base_dir/libs/*" \
  ${KAFKA_OPTS-} "$@"
