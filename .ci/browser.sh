#!/usr/bin/env bash
# The live cluster page (#16) in a real headless browser: installs Debian's chromium and
# chromium-driver when missing, then runs the `ui` suite of the client package (ignored by a
# plain `cargo test`, which must pass on a machine without a browser). It starts a store on
# free loopback ports, drives /ui through chromedriver, kills and restarts a replica, opens a
# short chaos run's --html report, and saves screenshots in target/ui-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[browser] %s\n' "$*" >&2; }

if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    say "installing chromium and chromium-driver (Debian packages)"
    as_root=()
    if ((EUID != 0)); then
        command -v sudo >/dev/null || { say "installing needs root: run as root or with sudo"; exit 1; }
        as_root=(sudo -n)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
        chromium chromium-driver fonts-dejavu-core >/dev/null
fi
say "$(chromium --version 2>/dev/null || echo 'chromium: version unknown')"
# The live page, and a chaos run's HTML report (#16).
cargo test --locked -p client --test ui -- --ignored --nocapture
