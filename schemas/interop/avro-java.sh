#!/usr/bin/env bash
# Fetches (once) Apache Avro for Java, the reference implementation, with its
# dependencies from Maven Central and prints the folder of its jars, for
# AvroInterop.java (run by schemas/interop_test.go). Cached under
# ${CORB_CACHE:-~/.cache/corb}/avro-java-$AVRO_VERSION; the jar set and its
# checksums are pinned in avro-java-$AVRO_VERSION.sha256 beside this script.
# Needs Java 17+ and Maven 3.8+ (deploy/setup.sh installs both).
set -euo pipefail

AVRO_VERSION=1.12.0
DEPENDENCY_PLUGIN_VERSION=3.8.1

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${CORB_CACHE:-$HOME/.cache/corb}
home=$cache/avro-java-$AVRO_VERSION
libs=$home/libs
pinned=$here/avro-java-$AVRO_VERSION.sha256

die() { echo "avro-java.sh: $*" >&2; exit 1; }

verified() { [ -d "$libs" ] && (cd "$libs" && sha256sum -- *.jar 2>/dev/null) | diff -q - "$pinned" >/dev/null; }

if ! verified; then
  command -v java >/dev/null 2>&1 || die "java not found (apt-get install openjdk-17-jre-headless)"
  command -v mvn >/dev/null 2>&1 || die "mvn not found (apt-get install maven)"
  work=$(mktemp -d "${TMPDIR:-/tmp}/corb-avro-java.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  cat >"$work/pom.xml" <<POM
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.corb</groupId>
  <artifactId>corb-avro-interop</artifactId>
  <version>$AVRO_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.avro</groupId>
      <artifactId>avro</artifactId>
      <version>$AVRO_VERSION</version>
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
POM
  echo "avro-java.sh: fetching org.apache.avro:avro:$AVRO_VERSION from Maven Central into $home" >&2
  if ! (cd "$work" && mvn -q -B -Dstyle.color=never -Dmaven.repo.local="$cache/m2" \
      dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$work/libs") >"$work/mvn.log" 2>&1; then
    cat "$work/mvn.log" >&2
    die "mvn dependency:copy-dependencies failed (is Maven Central reachable?)"
  fi
  if ! (cd "$work/libs" && sha256sum -- *.jar) | diff -u "$pinned" - >&2; then
    die "fetched jars differ from the pinned $pinned (diff above)"
  fi
  mkdir -p "$home"
  rm -rf "$libs"
  mv "$work/libs" "$libs"
fi
echo "$libs"
