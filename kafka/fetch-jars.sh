#!/usr/bin/env bash
# Fetch the pinned Kafka jars into kafka/libs with Maven (kafka/pom.xml).
# Installs Java and Maven with apt when they are missing and we are root on Debian/Ubuntu;
# otherwise stops and says what to install.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v java >/dev/null 2>&1 || [ -x "${JAVA_HOME:-/nonexistent}/bin/java" ] || need+=(java)
command -v mvn >/dev/null 2>&1 || need+=(mvn)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${need[*]} with apt-get (Java 17+ JDK and Maven)"
    # One apt at a time: `make test` runs its set-up steps side by side.
    (flock 9 && apt-get update -qq && \
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless maven >/dev/null \
    ) 9>/tmp/kafkalab-apt.lock
  else
    echo "missing: ${need[*]}. Install a Java 17+ JDK and Maven (Debian/Ubuntu:" \
         "sudo apt-get install default-jdk-headless maven), or use Docker:" \
         "KAFKALAB_LAUNCHER=docker" >&2
    exit 1
  fi
fi

mvn -q -B package
ls libs/kafka_2.13-*.jar >/dev/null
