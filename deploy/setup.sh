#!/usr/bin/env bash
# Installs everything Corb needs on a fresh Debian machine, idempotently and
# cached (the second run takes seconds):
#   system packages  libopencv-dev ffmpeg pkg-config (OpenCV 4.6 for gocv v0.32), libturbojpeg0-dev
#                    (frame decoding in detect), Java 17 + Maven (Kafka for tests)
#   Python tools     a venv with pinned fastavro, onnx, onnxruntime, numpy (deploy/tools/venv.sh)
#   ONNX Runtime     libonnxruntime.so.1 from npm onnxruntime-node (deploy/ort/fetch.sh)
#   the model        NanoDet-g 416 converted to ONNX by deploy/model (deploy/model/fetch.sh)
#   sample media     vtest.avi and test images from Debian packages (deploy/media/fetch.sh)
#   MinIO            the S3-compatible server the upload tests use, built from the Go module
#                    proxy at a pinned version (deploy/minio/fetch.sh; ~5 min once, then cached)
# Usage: deploy/setup.sh [system|python|ort|model|media|minio|all]   (default all)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

need_apt=()
system() {
  command -v pkg-config >/dev/null || need_apt+=(pkg-config)
  pkg-config --exists opencv4 2>/dev/null || need_apt+=(libopencv-dev)
  pkg-config --exists libturbojpeg 2>/dev/null || need_apt+=(libturbojpeg0-dev)
  command -v ffmpeg >/dev/null || need_apt+=(ffmpeg)
  command -v java >/dev/null || need_apt+=(openjdk-17-jre-headless)
  command -v mvn >/dev/null || need_apt+=(maven)
  command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
  command -v npm >/dev/null || need_apt+=(npm)
  command -v chromium >/dev/null || need_apt+=(chromium)   # the dashboard's browser tests (chromedp)
  if [ ${#need_apt[@]} -gt 0 ]; then
    echo "setup: installing ${need_apt[*]} with apt-get" >&2
    local sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >&2
  fi
}

step=${1:-all}
case $step in
  system) system ;;
  python) "$here/tools/venv.sh" >/dev/null ;;
  ort) "$here/ort/fetch.sh" >/dev/null ;;
  model) "$here/model/fetch.sh" >/dev/null ;;
  media) "$here/media/fetch.sh" >/dev/null ;;
  minio) "$here/minio/fetch.sh" >/dev/null ;;
  all)
    system
    "$here/tools/venv.sh" >/dev/null
    "$here/ort/fetch.sh" >/dev/null
    "$here/media/fetch.sh" >/dev/null
    "$here/model/fetch.sh" >/dev/null
    "$here/minio/fetch.sh" >/dev/null
    ;;
  *) echo "usage: $0 [system|python|ort|model|media|minio|all]" >&2; exit 2 ;;
esac
