#!/usr/bin/env bash
# The live cluster page (#16) in a real headless browser: installs Debian's chromium and
# chromium-driver when missing, then runs the `ui` suite of the client package (ignored by a
# plain `cargo test`, which must pass on a machine without a browser). It starts a store on
# free loopback ports, drives /ui through chromedriver, kills and restarts a replica, and saves
# screenshots in target/ui-artifacts/.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf '[browser] %s\n' "$*" >&2; }

if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    say "installing chromium and chromium-driver (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
fi
say "$(chromium --version 2>/dev/null || echo 'chromium: version unknown')"
cargo test --locked -p client --test ui -- --ignored --nocapture
