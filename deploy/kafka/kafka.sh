#!/usr/bin/env bash
# Real Apache Kafka for Corb's integration tests: a KRaft cluster of NODES
# combined broker+controller JVMs on loopback, on free ports that the cluster
# keeps for its whole life, so a node can be stopped, killed and started again
# on its own data.
#
#   kafka.sh fetch          assemble Kafka's jars from Maven Central (cached, pinned, checksummed)
#   kafka.sh up [--fresh]   fetch if needed, format storage, start every node, wait for
#                           readiness, write $DIR/env; reuses a running, ready cluster
#   kafka.sh down           stop every node (SIGTERM, SIGKILL after a bound); data and logs are
#                           kept, but the next `up` formats a new cluster; idempotent
#   kafka.sh status         the cluster and each node; exit 0 all running, 1 none, 3 some
#   kafka.sh logs [NODE]    tail a node's server log (LINES=n, default 100; every node without NODE)
#   kafka.sh env            print the env file (KAFKA_BROKERS=host:port,...) while a node runs
#   kafka.sh nodes          one line a node: node= id= state= pid= broker= controller= client= advertised=
#   kafka.sh kill NODE      SIGKILL one node (data kept)
#   kafka.sh stop NODE      SIGTERM one node (controlled shutdown; SIGKILL after KAFKA_STOP_TIMEOUT)
#   kafka.sh start NODE     start a stopped node on its data and ports; wait until it is ready
#   kafka.sh restart [NODE] stop + start one node, or every node, keeping data
#
# `up` on a state dir whose cluster was not brought `down`: every node running
# and ready -> reused; every node stopped -> started again on its data (said
# so); some stopped -> refused with what to do. `up --fresh` always wipes the
# data and formats a new cluster.
#
# Environment:
#   NODES           nodes of a new cluster (default 1). N>=3: replication factor 3,
#                   min.insync.replicas 2 for topics and the offsets/transaction/share state
#                   topics; N=2: 2 and 1; N=1: 1 and 1.
#   ADVERTISE_PORTS comma-separated, one port a node: each node gets a second listener
#                   (CLIENT, on a free port) advertised as ADVERTISE_HOST:port, so clients
#                   that bootstrap there keep talking to those ports (a fault proxy's).
#                   Inter-broker and controller traffic never uses it. The env file then
#                   also has KAFKA_PROXY_BROKERS (the advertised addresses) and
#                   KAFKA_PROXY_TARGETS (the CLIENT listeners a proxy forwards to).
#   ADVERTISE_HOST  host of the advertised CLIENT listener (default 127.0.0.1)
#   KAFKA_SERVER_PROPS extra broker settings for a new cluster, key=value separated by ';' or
#                   newlines, appended to every node's server.properties (the last of a key
#                   wins), e.g. 'broker.session.timeout.ms=3000;broker.heartbeat.interval.ms=500'
#   CORB_CACHE      download cache (default ~/.cache/corb)
#   CORB_KAFKA_DIR  state dir: cluster, env, node-K/{server.properties,data,logs,kafka.pid}
#                   (default /tmp/corb-kafka)
#   KAFKA_HEAP_OPTS JVM heap (default -Xms256m -Xmx1g; -Xms128m -Xmx512m a node when NODES>1)
#   KAFKA_JVM_OPTS  other JVM options (default -XX:+UseSerialGC -XX:TieredStopAtLevel=1)
#   KAFKA_READY_TIMEOUT seconds to wait for readiness (default 90)
#   KAFKA_STOP_TIMEOUT seconds between SIGTERM and SIGKILL (default 30)
#   KAFKA_OWNER_PID when set at `up`, a watcher runs `down` once that process is gone
#                   (a test binary that dies without cleaning up does not leak JVMs)
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
self=$here/kafka.sh
cache=${CORB_CACHE:-$HOME/.cache/corb}
home=$cache/kafka-$KAFKA_VERSION
libs=$home/libs
stamp=$home/.fetched
manifest=$home/SHA256SUMS
pinned=$here/kafka-$KAFKA_VERSION.sha256
dir=${CORB_KAFKA_DIR:-/tmp/corb-kafka}
envfile=$dir/env
clusterfile=$dir/cluster
downfile=$dir/down
watchpid=$dir/watch.pid
# The single-node layout of earlier versions of this script (one JVM, its
# files at the top of the state dir). A broker still running from it is
# reused by `up` and stopped by `down`.
legacy_pidfile=$dir/kafka.pid

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


probe() { # probe ADDRS TIMEOUT_SECONDS [ready flags] -> prints the cluster, exit 0 when ready
  local addrs=$1 timeout=$2
  shift 2
  (cd "$repo_root" && go run ./deploy/kafka/ready -brokers "$addrs" -timeout "${timeout}s" "$@")
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

# --- the cluster file ---------------------------------------------------------
#
# $dir/cluster is written once by `up` and read by every other command. It
# holds plain words only (ports, an id, JVM options), one VAR='value' a line.

nodedir() { echo "$dir/node-$1"; }

load_cluster() {
  [ -f "$clusterfile" ] || return 1
  # shellcheck disable=SC1090 # generated by write_cluster below
  . "$clusterfile"
  [ -n "${C_NODES:-}" ] || die "$clusterfile has no C_NODES; remove $dir or run: $self up --fresh"
}

nth() { # nth K WORDS... -> the K-th word (1-based)
  local k=$1
  shift
  eval "echo \"\${$k:-}\""
}

# nodes_list prints 1..C_NODES.
nodes_list() { seq 1 "$C_NODES"; }

broker_addr() { echo "127.0.0.1:$(nth "$1" $C_BROKER_PORTS)"; }
controller_addr() { echo "127.0.0.1:$(nth "$1" $C_CONTROLLER_PORTS)"; }
client_addr() { [ -n "$C_CLIENT_PORTS" ] && echo "127.0.0.1:$(nth "$1" $C_CLIENT_PORTS)" || echo -; }
advertised_addr() { [ -n "$C_ADVERTISE_PORTS" ] && echo "$C_ADVERTISE_HOST:$(nth "$1" $C_ADVERTISE_PORTS)" || echo -; }

join_addrs() { # join_addrs FUNC -> FUNC 1,FUNC 2,...
  local out="" k
  for k in $(nodes_list); do
    out="${out:+$out,}$("$1" "$k")"
  done
  echo "$out"
}

node_pid() { cat "$(nodedir "$1")/kafka.pid" 2>/dev/null || true; }

node_alive() {
  local pid
  pid=$(node_pid "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # Guard against pid reuse: the process must be this node's broker.
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "kafka\.Kafka $(nodedir "$1")/server.properties" || return 1
}

legacy_alive() {
  [ -f "$legacy_pidfile" ] || return 1
  local pid
  pid=$(cat "$legacy_pidfile")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka\.Kafka' || return 1
}

running_nodes() { # prints the running nodes, one a line
  local k
  for k in $(nodes_list); do
    if node_alive "$k"; then echo "$k"; fi
  done
}

stopped_nodes() {
  local k
  for k in $(nodes_list); do
    if ! node_alive "$k"; then echo "$k"; fi
  done
}

check_node() { # check_node K: K must be a node of the cluster
  load_cluster || die "no cluster in $dir; run: $self up"
  case ${1:-} in
    '' | *[!0-9]*) die "NODE must be a number from 1 to $C_NODES, not '${1:-}'" ;;
  esac
  [ "$1" -ge 1 ] && [ "$1" -le "$C_NODES" ] || die "no node $1: the cluster in $dir has nodes 1 to $C_NODES"
}

port_in_use() { # port_in_use PORT: something accepts connections on 127.0.0.1:PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

write_env() {
  {
    echo "KAFKA_BROKERS=$(join_addrs broker_addr)"
    echo "KAFKA_NODES=$C_NODES"
    if [ -n "$C_ADVERTISE_PORTS" ]; then
      echo "KAFKA_PROXY_BROKERS=$(join_addrs advertised_addr)"
      echo "KAFKA_PROXY_TARGETS=$(join_addrs client_addr)"
    fi
  } >"$envfile.tmp"
  mv "$envfile.tmp" "$envfile"
}

# --- one node -------------------------------------------------------------------

write_node_config() { # write_node_config K
  local k=$1 nd rf isr voters="" j listeners advertised protomap
  nd=$(nodedir "$k")
  mkdir -p "$nd/data" "$nd/logs"
  if [ "$C_NODES" -ge 3 ]; then
    rf=3 isr=2
  elif [ "$C_NODES" -eq 2 ]; then
    rf=2 isr=1
  else
    rf=1 isr=1
  fi
  listeners="PLAINTEXT://$(broker_addr "$k"),CONTROLLER://$(controller_addr "$k")"
  advertised="PLAINTEXT://$(broker_addr "$k")"
  protomap="CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
  if [ -n "$C_ADVERTISE_PORTS" ]; then
    listeners="$listeners,CLIENT://$(client_addr "$k")"
    advertised="$advertised,CLIENT://$(advertised_addr "$k")"
    protomap="$protomap,CLIENT:PLAINTEXT"
  fi
  {
    echo "# Generated by deploy/kafka/kafka.sh: node $k of a $C_NODES-node KRaft cluster for tests. Do not edit."
    echo "process.roles=broker,controller"
    echo "node.id=$k"
    echo "listeners=$listeners"
    echo "advertised.listeners=$advertised"
    echo "controller.listener.names=CONTROLLER"
    echo "inter.broker.listener.name=PLAINTEXT"
    echo "listener.security.protocol.map=$protomap"
    if [ "$C_NODES" -eq 1 ]; then
      # A standalone (dynamic) quorum of one, formatted with --standalone.
      echo "controller.quorum.bootstrap.servers=$(controller_addr 1)"
    else
      # A static quorum of every node: the voters are fixed when the cluster is made.
      for j in $(nodes_list); do
        voters="${voters:+$voters,}$j@$(controller_addr "$j")"
      done
      echo "controller.quorum.voters=$voters"
    fi
    cat <<PROPS
log.dirs=$nd/data
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
auto.create.topics.enable=false
offsets.topic.replication.factor=$rf
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
transaction.state.log.num.partitions=10
share.coordinator.state.topic.replication.factor=$rf
share.coordinator.state.topic.min.isr=$isr
group.initial.rebalance.delay.ms=0
log.retention.hours=24
log.segment.bytes=67108864
log.retention.check.interval.ms=300000
PROPS
    if [ -n "${KAFKA_SERVER_PROPS:-}" ]; then
      echo "# KAFKA_SERVER_PROPS (the last of a key wins)"
      extra_props
    fi
  } >"$nd/server.properties"

  cat >"$nd/log4j2.properties" <<PROPS
# Generated by deploy/kafka/kafka.sh: everything to files under $nd/logs, nothing to the terminal.
name=corb-kafka-node-$k
appender.server.type=RollingFile
appender.server.name=server
appender.server.fileName=$nd/logs/server.log
appender.server.filePattern=$nd/logs/server.log.%i
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
PROPS
}

extra_props() { # KAFKA_SERVER_PROPS, one key=value a line
  local line
  echo "${KAFKA_SERVER_PROPS:-}" | tr ';' '\n' | while IFS= read -r line; do
    line=$(echo "$line" | sed 's/^[[:space:]]*//; s/[[:space:]]*$//')
    [ -n "$line" ] || continue
    echo "$line" | grep -Eq '^[a-zA-Z0-9._-]+=' || die "KAFKA_SERVER_PROPS: '$line' is not key=value"
    echo "$line"
  done
}

jvm_args() { # jvm_args K -> sets the array jvm
  local nd
  nd=$(nodedir "$1")
  # shellcheck disable=SC2206 # the option strings are meant to be split
  jvm=(${KAFKA_HEAP_OPTS:-$C_HEAP_OPTS} ${KAFKA_JVM_OPTS:-$C_JVM_OPTS} -Djava.awt.headless=true
    -Dlog4j2.configurationFile="$nd/log4j2.properties" -Dkafka.logs.dir="$nd/logs")
}

format_node() { # format_node K
  local k=$1 nd jvm standalone=()
  nd=$(nodedir "$k")
  jvm_args "$k"
  [ "$C_NODES" -eq 1 ] && standalone=(--standalone)
  java -cp "$libs/*" "${jvm[@]}" kafka.tools.StorageTool format "${standalone[@]}" \
      -t "$C_CLUSTER_ID" -c "$nd/server.properties" >>"$nd/logs/format.log" 2>&1 \
    || { say "StorageTool format of node $k failed; see $nd/logs/format.log"; return 1; }
}

launch_node() { # launch_node K: start the JVM of node K in the background
  local k=$1 nd jvm port
  nd=$(nodedir "$k")
  [ -f "$nd/server.properties" ] || die "node $k has no $nd/server.properties; run: $self up --fresh"
  [ -f "$nd/data/meta.properties" ] || die "node $k has no formatted data in $nd/data; run: $self up --fresh"
  for port in $(nth "$k" $C_BROKER_PORTS) $(nth "$k" $C_CONTROLLER_PORTS) ${C_CLIENT_PORTS:+$(nth "$k" $C_CLIENT_PORTS)}; do
    if port_in_use "$port"; then
      die "node $k cannot start: another process listens on 127.0.0.1:$port (the port the cluster keeps for it)"
    fi
  done
  jvm_args "$k"
  nohup java -cp "$libs/*" "${jvm[@]}" kafka.Kafka "$nd/server.properties" \
    >>"$nd/logs/stdout.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$nd/kafka.pid"
}

show_logs() { # show_logs K...: the last lines of each node's logs, to stderr
  local k nd
  for k in "$@"; do
    nd=$(nodedir "$k")
    echo "--- node $k: $nd/logs" >&2
    tail -n 20 "$nd/logs/server.log" "$nd/logs/stdout.log" >&2 2>/dev/null || true
  done
}

# signal_nodes SIG K...: send SIG to the given running nodes and wait until they
# are gone; SIGTERM turns into SIGKILL after KAFKA_STOP_TIMEOUT. Pid files are removed.
signal_nodes() {
  local sig=$1 k pid pids=()
  shift
  for k in "$@"; do
    if node_alive "$k"; then
      pid=$(node_pid "$k")
      kill "-$sig" "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  wait_gone "${KAFKA_STOP_TIMEOUT:-30}" "${pids[@]}"
  for k in "$@"; do
    rm -f "$(nodedir "$k")/kafka.pid"
  done
}

alive_pids() { # alive_pids PID... -> those still alive, on one line
  local pid out=""
  for pid in "$@"; do
    if kill -0 "$pid" 2>/dev/null; then out="${out:+$out }$pid"; fi
  done
  echo "$out"
}

wait_gone() { # wait_gone TIMEOUT PID...: SIGKILL whatever is alive after TIMEOUT seconds
  local timeout=$1 alive deadline killed=0
  shift
  [ $# -gt 0 ] || return 0
  deadline=$((SECONDS + timeout))
  while alive=$(alive_pids "$@") && [ -n "$alive" ]; do
    if [ "$SECONDS" -ge "$deadline" ]; then
      if [ "$killed" -eq 1 ]; then
        say "pid $alive still alive 10s after SIGKILL; giving up on it"
        return 1
      fi
      say "pid $alive still alive after ${timeout}s; sending SIGKILL"
      # shellcheck disable=SC2086
      kill -KILL $alive 2>/dev/null || true
      killed=1
      deadline=$((SECONDS + 10))
    fi
    sleep 0.1
  done
}

# start_nodes K...: launch the given stopped nodes on their data and wait until
# each is ready (listed as an unfenced broker); on failure they are stopped again.
start_nodes() {
  local k started=() failed=()
  for k in "$@"; do
    if node_alive "$k"; then
      say "node $k is already running (pid $(node_pid "$k"))"
      continue
    fi
    launch_node "$k"
    started+=("$k")
  done
  [ ${#started[@]} -gt 0 ] || return 0
  rm -f "$downfile"
  say "starting node ${started[*]} of $C_NODES on its data and ports"
  # All probes run at once: with a static quorum a node cannot be ready before
  # a majority of the controllers runs, so nodes started together must be waited for together.
  local pids=() statuses=()
  for k in "${started[@]}"; do
    probe "$(broker_addr "$k")" "${KAFKA_READY_TIMEOUT:-90}" -node-id "$k" >/dev/null 2>"$(nodedir "$k")/logs/ready.log" &
    pids+=($!)
  done
  local i
  for i in "${!pids[@]}"; do
    if wait "${pids[$i]}"; then statuses+=(0); else statuses+=(1); failed+=("${started[$i]}"); fi
  done
  if [ ${#failed[@]} -gt 0 ]; then
    for k in "${failed[@]}"; do
      cat "$(nodedir "$k")/logs/ready.log" >&2 || true
    done
    say "node ${failed[*]} did not become ready; running: $(running_nodes | tr '\n' ' ')(a node needs a majority of the $C_NODES controllers running); last log lines:"
    show_logs "${failed[@]}"
    signal_nodes KILL "${started[@]}"
    die "node ${failed[*]} failed to start (state in $dir)"
  fi
  say "node ${started[*]} ready"
}

# --- commands -------------------------------------------------------------------

start_watcher() {
  [ -n "${KAFKA_OWNER_PID:-}" ] || return 0
  kill -0 "$KAFKA_OWNER_PID" 2>/dev/null || die "KAFKA_OWNER_PID=$KAFKA_OWNER_PID is not a running process"
  nohup bash -c 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; exec env CORB_KAFKA_DIR="$2" bash "$3" down' \
    kafka-watch "$KAFKA_OWNER_PID" "$dir" "$self" >>"$dir/watch.log" 2>&1 </dev/null 8>&- 9>&- &
  echo $! >"$watchpid"
}

stop_watcher() {
  [ -f "$watchpid" ] || return 0
  local pid
  pid=$(cat "$watchpid")
  rm -f "$watchpid"
  # The watcher runs `down` itself through exec, under its own pid.
  if [ -n "$pid" ] && [ "$pid" != "$$" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q kafka-watch; then
    kill "$pid" 2>/dev/null || true
  fi
}

cmd_up() {
  local fresh=0
  case "${1:-}" in
    --fresh) fresh=1 ;;
    '') ;;
    *) die "usage: $self up [--fresh]" ;;
  esac
  need_go
  local want=${NODES:-1}
  case $want in '' | *[!0-9]* | 0) die "NODES must be a positive number, not '$want'" ;; esac
  local adv_ports=${ADVERTISE_PORTS:-}
  adv_ports=${adv_ports//,/ }
  if [ -n "$adv_ports" ]; then
    local n_adv
    n_adv=$(echo "$adv_ports" | wc -w)
    [ "$n_adv" -eq "$want" ] || die "ADVERTISE_PORTS has $n_adv ports for $want nodes"
  fi

  extra_props >/dev/null # KAFKA_SERVER_PROPS is checked before anything is stopped or wiped

  if legacy_alive; then
    local addr
    addr=$(sed -n 's/^KAFKA_BROKERS=//p' "$envfile" 2>/dev/null || true)
    if [ "$fresh" -eq 0 ] && [ "$want" -eq 1 ] && [ -z "$adv_ports" ] && [ -n "$addr" ] && probe "$addr" 15 >/dev/null; then
      say "broker already running (pid $(cat "$legacy_pidfile")) at $addr"
      echo "$addr"
      return 0
    fi
    say "a broker of the older single-node layout runs in $dir (pid $(cat "$legacy_pidfile")); stopping it"
    cmd_down
  fi

  if [ "$fresh" -eq 0 ] && [ ! -f "$downfile" ] && load_cluster; then
    local running stopped
    running=$(running_nodes | tr '\n' ' ')
    stopped=$(stopped_nodes | tr '\n' ' ')
    if [ -n "$running" ] || [ -n "$stopped" ]; then
      if [ "$C_NODES" -ne "$want" ] || [ "$C_ADVERTISE_PORTS" != "$(echo $adv_ports)" ]; then
        die "the cluster in $dir ($([ -n "$running" ] && echo running || echo stopped)) has $C_NODES node(s)${C_ADVERTISE_PORTS:+ advertised on ports $C_ADVERTISE_PORTS}, not the $want asked for${adv_ports:+ on ports $adv_ports}; run: $self up --fresh (wipes it), $self down, or use another CORB_KAFKA_DIR"
      elif [ -z "$stopped" ]; then
        local addrs
        addrs=$(join_addrs broker_addr)
        if probe "$addrs" 15 -want-brokers "$C_NODES" >/dev/null; then
          say "cluster already running (node ${running% } of $C_NODES) at $addrs"
          [ -f "$envfile" ] || write_env
          echo "$addrs"
          return 0
        fi
        say "every node runs but the cluster is not ready at $addrs; stopping it and formatting a new one"
        cmd_down
      elif [ -z "$running" ]; then
        say "the cluster in $dir is stopped but was not brought down; starting it again on its data (for a new cluster: $self up --fresh)"
        start_nodes $(nodes_list)
        write_env
        join_addrs broker_addr
        return 0
      else
        die "node ${stopped% } of the cluster in $dir is stopped (running: ${running% }). Run: $self start NODE (or $self restart) to bring it back on its data, $self up --fresh for a new cluster, or $self down"
      fi
    fi
  fi

  [ -f "$clusterfile" ] && load_cluster && [ -n "$(running_nodes)" ] && cmd_down
  (lock "$home" 8; cmd_fetch) # the subshell releases the cache's lock when done
  need_java
  verify

  # A new cluster: every node's data is wiped, new ports are chosen and kept in
  # $clusterfile for the cluster's life. Logs are kept.
  mkdir -p "$dir"
  rm -f "$envfile" "$clusterfile" "$downfile"
  rm -rf "$dir/data" "$dir/server.properties" "$dir/log4j2.properties" "$legacy_pidfile" # older layout
  local k
  for k in $(seq 1 64); do
    [ -d "$(nodedir "$k")" ] || break
    rm -rf "$(nodedir "$k")/data" "$(nodedir "$k")/kafka.pid" "$(nodedir "$k")/server.properties"
  done

  local nports=$((2 * want)) ports
  [ -n "$adv_ports" ] && nports=$((3 * want))
  ports=$(free_ports "$nports" | tr '\n' ' ') || die "cannot find free ports"
  C_NODES=$want
  C_CLUSTER_ID=$(new_cluster_id)
  # shellcheck disable=SC2086 # word lists
  C_BROKER_PORTS=$(echo $ports | cut -d' ' -f"1-$want")
  C_CONTROLLER_PORTS=$(echo $ports | cut -d' ' -f"$((want + 1))-$((2 * want))")
  C_CLIENT_PORTS=""
  C_ADVERTISE_PORTS=""
  C_ADVERTISE_HOST=${ADVERTISE_HOST:-127.0.0.1}
  if [ -n "$adv_ports" ]; then
    C_CLIENT_PORTS=$(echo $ports | cut -d' ' -f"$((2 * want + 1))-$((3 * want))")
    C_ADVERTISE_PORTS=$(echo $adv_ports)
  fi
  if [ "$want" -eq 1 ]; then
    C_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx1g}
  else
    C_HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m}
  fi
  C_JVM_OPTS=${KAFKA_JVM_OPTS:-$default_jvm_opts}
  {
    echo "# Generated by deploy/kafka/kafka.sh up: this cluster's ports and id, kept for its life."
    for v in C_NODES C_CLUSTER_ID C_BROKER_PORTS C_CONTROLLER_PORTS C_CLIENT_PORTS C_ADVERTISE_PORTS C_ADVERTISE_HOST C_HEAP_OPTS C_JVM_OPTS; do
      printf "%s='%s'\n" "$v" "${!v}"
    done
  } >"$clusterfile.tmp"
  mv "$clusterfile.tmp" "$clusterfile"

  local pids=() failed=0
  for k in $(nodes_list); do
    write_node_config "$k"
    format_node "$k" &
    pids+=($!)
  done
  for k in "${pids[@]}"; do wait "$k" || failed=1; done
  [ "$failed" -eq 0 ] || die "formatting storage failed (state in $dir)"

  local addrs
  addrs=$(join_addrs broker_addr)
  say "starting Kafka $KAFKA_VERSION, $C_NODES node(s): brokers $addrs, controllers $(join_addrs controller_addr)${C_ADVERTISE_PORTS:+, clients via $(join_addrs advertised_addr) -> $(join_addrs client_addr)}; state in $dir"
  for k in $(nodes_list); do
    launch_node "$k"
  done
  if ! probe "$addrs" "${KAFKA_READY_TIMEOUT:-90}" -want-brokers "$C_NODES" >&2; then
    say "the cluster did not become ready; last log lines:"
    show_logs $(nodes_list)
    cmd_down || true
    die "Kafka failed to start (state in $dir)"
  fi
  write_env
  start_watcher
  echo "$addrs"
}

cmd_down() {
  stop_watcher
  local stopped=0
  if legacy_alive; then
    local pid
    pid=$(cat "$legacy_pidfile")
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "${KAFKA_STOP_TIMEOUT:-30}" "$pid"
    stopped=1
  fi
  rm -f "$legacy_pidfile"
  if load_cluster; then
    local running
    running=$(running_nodes)
    if [ -n "$running" ]; then
      # shellcheck disable=SC2086
      signal_nodes TERM $running
      stopped=1
    fi
    rm -f "$dir"/node-*/kafka.pid
    touch "$downfile"
  fi
  rm -f "$envfile"
  if [ "$stopped" -eq 1 ]; then
    say "stopped (data and logs kept in $dir; the next up formats a new cluster)"
  else
    say "not running"
  fi
}

cmd_status() {
  if legacy_alive; then
    echo "running pid=$(cat "$legacy_pidfile") brokers=$(sed -n 's/^KAFKA_BROKERS=//p' "$envfile" 2>/dev/null) dir=$dir (older single-node layout)"
    return 0
  fi
  if ! load_cluster; then
    echo "stopped dir=$dir"
    return 1
  fi
  local running n state k
  running=$(running_nodes | wc -l)
  n=$C_NODES
  if [ "$running" -eq "$n" ]; then
    state=running
  elif [ "$running" -eq 0 ]; then
    state=stopped
  else
    state=degraded
  fi
  [ -f "$downfile" ] && [ "$running" -eq 0 ] && state="stopped (down)"
  echo "$state nodes=$running/$n brokers=$(join_addrs broker_addr) dir=$dir"
  for k in $(nodes_list); do
    if node_alive "$k"; then
      echo "node $k running pid=$(node_pid "$k") broker=$(broker_addr "$k") controller=$(controller_addr "$k")"
    else
      echo "node $k stopped broker=$(broker_addr "$k") controller=$(controller_addr "$k")"
    fi
  done
  [ "$running" -eq "$n" ] && return 0
  [ "$running" -eq 0 ] && return 1
  return 3
}

cmd_nodes() {
  load_cluster || die "no cluster in $dir; run: $self up"
  local k state pid
  for k in $(nodes_list); do
    if node_alive "$k"; then state=running pid=$(node_pid "$k"); else state=stopped pid=-; fi
    echo "node=$k id=$k state=$state pid=$pid broker=$(broker_addr "$k") controller=$(controller_addr "$k") client=$(client_addr "$k") advertised=$(advertised_addr "$k")"
  done
}

cmd_logs() {
  if [ -z "${1:-}" ] && [ -f "$dir/logs/server.log" ] && ! [ -f "$clusterfile" ]; then
    tail -n "${LINES:-100}" "$dir/logs/server.log" # older single-node layout
    return
  fi
  load_cluster || die "no cluster in $dir"
  local nodes k
  if [ -n "${1:-}" ]; then
    check_node "$1"
    nodes=$1
  else
    nodes=$(nodes_list)
  fi
  for k in $nodes; do
    local log
    log=$(nodedir "$k")/logs/server.log
    [ -f "$log" ] || die "no log at $log"
    [ "$C_NODES" -gt 1 ] && echo "==> node $k: $log <=="
    tail -n "${LINES:-100}" "$log"
  done
}

cmd_env() {
  if legacy_alive && [ -f "$envfile" ]; then
    cat "$envfile"
    return
  fi
  load_cluster && [ -n "$(running_nodes)" ] || die "no broker running (state dir $dir); run: $self up"
  [ -f "$envfile" ] || write_env
  cat "$envfile"
}

cmd_kill() {
  check_node "${1:-}"
  node_alive "$1" || { say "node $1 is not running"; return 0; }
  local pid
  pid=$(node_pid "$1")
  signal_nodes KILL "$1"
  say "node $1 (pid $pid) killed with SIGKILL; data kept (start it with: $self start $1)"
}

cmd_stop() {
  check_node "${1:-}"
  node_alive "$1" || { say "node $1 is not running"; return 0; }
  signal_nodes TERM "$1"
  say "node $1 stopped; data kept (start it with: $self start $1)"
}

cmd_start() {
  check_node "${1:-}"
  need_go
  need_java
  start_nodes "$1"
  write_env
}

cmd_restart() {
  load_cluster || die "no cluster in $dir; run: $self up"
  need_go
  need_java
  local nodes
  if [ -n "${1:-}" ]; then
    check_node "$1"
    nodes=$1
  else
    nodes=$(nodes_list)
  fi
  # shellcheck disable=SC2086
  signal_nodes TERM $nodes
  # shellcheck disable=SC2086
  start_nodes $nodes
  write_env
}

# lock DIR FD takes an exclusive lock on DIR/.lock through file descriptor FD.
# The state dir's lock serialises the commands that start or stop nodes:
# `go test ./integration/...` runs test binaries in parallel and each may call
# `up` at once; only one may start a cluster. The cache's lock serialises
# fetches from state dirs of their own.
lock() {
  command -v flock >/dev/null 2>&1 || die "flock not found (apt-get install util-linux)"
  mkdir -p "$1"
  eval "exec $2>>\"\$1/.lock\""
  flock -w "${KAFKA_LOCK_TIMEOUT:-600}" "$2" || die "timed out waiting for the lock $1/.lock"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  fetch) lock "$home" 8; cmd_fetch; echo "$libs" ;;
  up) lock "$dir" 9; cmd_up "$@" ;;
  down) lock "$dir" 9; cmd_down ;;
  status) cmd_status ;;
  logs) cmd_logs "$@" ;;
  env) cmd_env ;;
  nodes) cmd_nodes ;;
  kill) lock "$dir" 9; cmd_kill "$@" ;;
  stop) lock "$dir" 9; cmd_stop "$@" ;;
  start) lock "$dir" 9; cmd_start "$@" ;;
  restart) lock "$dir" 9; cmd_restart "$@" ;;
  *) echo "usage: $0 {fetch|up [--fresh]|down|status|logs [NODE]|env|nodes|kill NODE|stop NODE|start NODE|restart [NODE]}" >&2; exit 2 ;;
esac
