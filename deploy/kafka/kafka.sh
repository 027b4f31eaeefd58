#!/usr/bin/env bash
# A real Apache Kafka broker for Corb's integration tests: single-node KRaft
# (broker + controller in one JVM) on loopback, on free ports.
#
#   kafka.sh fetch    assemble Kafka's jars from Maven Central (cached, pinned, checksummed)
#   kafka.sh up       fetch if needed, format storage, start, wait for readiness, write $DIR/env
#   kafka.sh down     stop (SIGTERM, then SIGKILL after a bound); data and logs are kept
#   kafka.sh status   running/stopped, pid and address; exit 0 only when running
#   kafka.sh logs     tail the broker log (LINES=n, default 100)
#   kafka.sh env      print the KAFKA_BROKERS=host:port line of a running broker
#
# Environment:
#   CORB_CACHE      download cache (default ~/.cache/corb)
#   CORB_KAFKA_DIR  state dir: data, logs, pid, env (default /tmp/corb-kafka)
#   KAFKA_HEAP_OPTS JVM heap (default -Xms256m -Xmx1g)
#   KAFKA_JVM_OPTS  other JVM options (default -XX:+UseSerialGC -XX:TieredStopAtLevel=1)
#   KAFKA_READY_TIMEOUT seconds to wait for readiness (default 90)
#   KAFKA_STOP_TIMEOUT seconds between SIGTERM and SIGKILL on `down` (default 30)
set -euo pipefail

KAFKA_VERSION=4.1.1
SCALA_VERSION=2.13
LOG4J_VERSION=2.24.3
DEPENDENCY_PLUGIN_VERSION=3.8.1
# Startup matters more than peak throughput for a test broker on a busy 2-core
# machine: the serial GC and C1-only JIT use less CPU while the JVM warms up.
default_jvm_opts="-XX:+UseSerialGC -XX:TieredStopAtLevel=1"

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo_root=$(cd "$here/../.." && pwd)
cache=${CORB_CACHE:-$HOME/.cache/corb}
home=$cache/kafka-$KAFKA_VERSION
libs=$home/libs
stamp=$home/.fetched
manifest=$home/SHA256SUMS
pinned=$here/kafka-$KAFKA_VERSION.sha256
dir=${CORB_KAFKA_DIR:-/tmp/corb-kafka}
pidfile=$dir/kafka.pid
envfile=$dir/env
logdir=$dir/logs
datadir=$dir/data

die() { echo "kafka.sh: $*" >&2; exit 1; }
say() { echo "kafka.sh: $*" >&2; }

# The fetch recipe; a change to it (or to the versions) invalidates the stamp.
recipe_id() {
  printf '%s\n' "$KAFKA_VERSION" "$SCALA_VERSION" "$LOG4J_VERSION" "$DEPENDENCY_PLUGIN_VERSION" v1 | sha256sum | cut -d' ' -f1
}

need_java() {
  command -v java >/dev/null 2>&1 || die "java not found: Kafka $KAFKA_VERSION needs Java 17+ (apt-get install openjdk-17-jre-headless)"
  local v
  v=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
  [ -n "$v" ] || die "cannot tell the Java version of $(command -v java)"
  [ "${v%%.*}" -ge 17 ] 2>/dev/null || die "Java $v found; Kafka $KAFKA_VERSION needs Java 17+ (apt-get install openjdk-17-jre-headless)"
}

need_maven() {
  command -v mvn >/dev/null 2>&1 || die "mvn not found: fetching Kafka needs Maven 3.8+ (apt-get install maven)"
  local v major minor
  v=$(mvn -v 2>/dev/null | sed -n 's/.*Apache Maven \([0-9][0-9.]*\).*/\1/p' | head -1)
  [ -n "$v" ] || die "cannot tell the Maven version of $(command -v mvn)"
  major=${v%%.*}; minor=${v#*.}; minor=${minor%%.*}
  if [ "$major" -lt 3 ] || { [ "$major" -eq 3 ] && [ "$minor" -lt 8 ]; }; then
    die "Maven $v found; fetching Kafka needs Maven 3.8+"
  fi
}

need_go() {
  command -v go >/dev/null 2>&1 || die "go not found: the readiness probe (deploy/kafka/ready) needs Go"
}

fetched() {
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$(recipe_id)" ] && [ -f "$manifest" ]
}

cmd_fetch() {
  if fetched; then
    return 0
  fi
  need_java
  need_maven
  say "fetching Apache Kafka $KAFKA_VERSION (kafka_$SCALA_VERSION) from Maven Central into $home"
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/corb-kafka-fetch.XXXXXX")
  # shellcheck disable=SC2064
  trap "rm -rf '$work'" RETURN
  cat >"$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 http://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.corb</groupId>
  <artifactId>corb-kafka-runtime</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$SCALA_VERSION</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-api</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-core</artifactId>
      <version>$LOG4J_VERSION</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>$DEPENDENCY_PLUGIN_VERSION</version>
      </plugin>
    </plugins>
  </build>
</project>
EOF
  local staging=$home/libs.tmp
  rm -rf "$staging"
  mkdir -p "$home"
  if ! (cd "$work" && mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$cache/m2" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$staging") >"$work/mvn.log" 2>&1; then
    cat "$work/mvn.log" >&2
    die "mvn dependency:copy-dependencies failed (is Maven Central reachable?)"
  fi
  ls "$staging"/kafka_"$SCALA_VERSION"-"$KAFKA_VERSION".jar >/dev/null 2>&1 \
    || die "kafka_$SCALA_VERSION-$KAFKA_VERSION.jar missing after fetch"
  rm -rf "$libs"
  mv "$staging" "$libs"
  cp "$work/pom.xml" "$home/pom.xml"
  (cd "$libs" && sha256sum -- *.jar) >"$manifest"
  # The jar set and checksums are pinned in the repository: a different
  # dependency resolution or a changed artifact is an error, not a surprise.
  if [ -f "$pinned" ] && ! diff -u "$pinned" "$manifest" >&2; then
    rm -f "$stamp"
    die "fetched jars differ from the pinned $pinned (diff above)"
  fi
  recipe_id >"$stamp"
  say "fetched $(wc -l <"$manifest") jars; checksums in $manifest"
}

# verify checks the jars against the manifest written at fetch time.
verify() {
  (cd "$libs" && sha256sum --quiet -c "$manifest") >/dev/null 2>&1 \
    || die "jars in $libs do not match $manifest; remove $home and fetch again"
}

pid_alive() {
  [ -f "$pidfile" ] || return 1
  local pid
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be our broker.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
}

brokers_addr() {
  [ -f "$envfile" ] || return 1
  sed -n 's/^KAFKA_BROKERS=//p' "$envfile"
}

probe() { # probe ADDR TIMEOUT_SECONDS -> prints the cluster, exit 0 when ready
  (cd "$repo_root" && go run ./deploy/kafka/ready -brokers "$1" -timeout "${2}s")
}

free_ports() { # free_ports N -> N distinct free loopback ports, one a line
  (cd "$repo_root" && go run ./deploy/kafka/ready -free-ports "$1")
}

# new_cluster_id prints a random Kafka cluster id (16 random bytes, base64url
# without padding, like kafka-storage random-uuid) without starting a JVM.
new_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    case $id in -*) continue ;; esac # Kafka never hands out ids that look like flags
    echo "$id"
    return
  done
}

cmd_up() {
  need_go
  if pid_alive && addr=$(brokers_addr) && [ -n "$addr" ]; then
    if probe "$addr" 15 >/dev/null; then
      say "broker already running (pid $(cat "$pidfile")) at $addr"
      echo "$addr"
      return 0
    fi
    say "broker pid $(cat "$pidfile") is alive but not ready at $addr; restarting it"
    cmd_down
  fi
  (lock "$home" 8; cmd_fetch) # the subshell releases the cache's lock when done
  need_java
  verify

  mkdir -p "$dir" "$logdir"
  rm -f "$envfile"
  # Ports change on every start, so the metadata log of an earlier run (which
  # records the controller's endpoint) is not reused: every `up` gets a new cluster.
  rm -rf "$datadir"
  mkdir -p "$datadir"

  local ports bport cport
  ports=$(free_ports 2) || die "cannot find free ports"
  bport=$(echo "$ports" | sed -n 1p)
  cport=$(echo "$ports" | sed -n 2p)

  cat >"$dir/server.properties" <<EOF
# Generated by deploy/kafka/kafka.sh: single-node KRaft for tests. Do not edit.
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
controller.quorum.bootstrap.servers=127.0.0.1:$cport
log.dirs=$datadir
num.partitions=1
default.replication.factor=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
log.retention.check.interval.ms=300000
EOF

  cat >"$dir/log4j2.properties" <<EOF
# Generated by deploy/kafka/kafka.sh: everything to files under $logdir, nothing to the terminal.
name=corb-kafka
appender.server.type=RollingFile
appender.server.name=server
appender.server.fileName=$logdir/server.log
appender.server.filePattern=$logdir/server.log.%i
appender.server.layout.type=PatternLayout
appender.server.layout.pattern=[%d] %p %m (%c)%n
appender.server.policies.type=Policies
appender.server.policies.size.type=SizeBasedTriggeringPolicy
appender.server.policies.size.size=50MB
appender.server.strategy.type=DefaultRolloverStrategy
appender.server.strategy.max=3
rootLogger.level=INFO
rootLogger.appenderRef.server.ref=server
logger.kafka.name=kafka
logger.kafka.level=INFO
logger.apache.name=org.apache.kafka
logger.apache.level=INFO
logger.zk.name=org.apache.zookeeper
logger.zk.level=WARN
logger.request.name=kafka.request.logger
logger.request.level=WARN
EOF

  local cp="$libs/*"
  # shellcheck disable=SC2206 # the option strings are meant to be split
  local jvm=(${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g} ${KAFKA_JVM_OPTS:-$default_jvm_opts} -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$dir/log4j2.properties" -Dkafka.logs.dir="$logdir")

  local cluster_id
  cluster_id=$(new_cluster_id)
  java -cp "$cp" "${jvm[@]}" kafka.tools.StorageTool format --standalone \
      -t "$cluster_id" -c "$dir/server.properties" >>"$logdir/format.log" 2>&1 \
    || die "StorageTool format failed; see $logdir/format.log"

  say "starting Kafka $KAFKA_VERSION: broker 127.0.0.1:$bport, controller 127.0.0.1:$cport, state in $dir"
  nohup java -cp "$cp" "${jvm[@]}" kafka.Kafka "$dir/server.properties" \
    >>"$logdir/stdout.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$pidfile"

  local addr=127.0.0.1:$bport
  if ! probe "$addr" "${KAFKA_READY_TIMEOUT:-90}" >&2; then
    say "broker did not become ready; last log lines:"
    tail -n 30 "$logdir/server.log" "$logdir/stdout.log" >&2 2>/dev/null || true
    cmd_down || true
    die "Kafka failed to start (state in $dir)"
  fi
  echo "KAFKA_BROKERS=$addr" >"$envfile.tmp"
  mv "$envfile.tmp" "$envfile"
  echo "$addr"
}

cmd_down() {
  if ! pid_alive; then
    rm -f "$pidfile" "$envfile"
    say "not running"
    return 0
  fi
  local pid
  pid=$(cat "$pidfile")
  kill -TERM "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + ${KAFKA_STOP_TIMEOUT:-30}))
  while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "pid $pid still alive after ${KAFKA_STOP_TIMEOUT:-30}s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    for _ in 1 2 3 4 5; do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
  fi
  rm -f "$pidfile" "$envfile"
  say "stopped (logs kept in $logdir)"
}

cmd_status() {
  if pid_alive; then
    echo "running pid=$(cat "$pidfile") brokers=$(brokers_addr || echo unknown) dir=$dir"
  else
    echo "stopped dir=$dir"
    return 1
  fi
}

cmd_logs() {
  [ -f "$logdir/server.log" ] || die "no log at $logdir/server.log"
  tail -n "${LINES:-100}" "$logdir/server.log"
}

cmd_env() {
  pid_alive || die "no broker running (state dir $dir); run: $0 up"
  [ -f "$envfile" ] || die "broker running but $envfile is missing"
  cat "$envfile"
}

# lock DIR FD takes an exclusive lock on DIR/.lock through file descriptor FD.
# The state dir's lock serialises up/down: `go test ./integration/...` runs test
# binaries in parallel and each may call `up` at once; only one may start a
# broker. The cache's lock serialises fetches from state dirs of their own.
lock() {
  command -v flock >/dev/null 2>&1 || die "flock not found (apt-get install util-linux)"
  mkdir -p "$1"
  eval "exec $2>>\"\$1/.lock\""
  flock -w "${KAFKA_LOCK_TIMEOUT:-600}" "$2" || die "timed out waiting for the lock $1/.lock"
}

case "${1:-}" in
  fetch) lock "$home" 8; cmd_fetch; echo "$libs" ;;
  up) lock "$dir" 9; cmd_up ;;
  down) lock "$dir" 9; cmd_down ;;
  status) cmd_status ;;
  logs) cmd_logs ;;
  env) cmd_env ;;
  *) echo "usage: $0 {fetch|up|down|status|logs|env}" >&2; exit 2 ;;
esac
