#!/usr/bin/env bash
# Installs Debian's espeak-ng (spoken narration) and ffmpeg (recording, muxing, ffprobe) for
# the training video (scripts/make_video.py, `make video`) and its test, when missing.
# Nothing is downloaded outside Debian's packages; safe to run again.
set -euo pipefail
if command -v espeak-ng >/dev/null 2>&1 && command -v ffmpeg >/dev/null 2>&1 \
  && command -v ffprobe >/dev/null 2>&1; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "espeak-ng or ffmpeg is missing; install them with: sudo apt-get install -y espeak-ng ffmpeg" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends espeak-ng ffmpeg >/dev/null
command -v espeak-ng >/dev/null
command -v ffmpeg >/dev/null
command -v ffprobe >/dev/null
