#!/usr/bin/env bash
# Builds, from what this machine can reach (Debian's apt mirror and its own Rust toolchain), the
# two base images the root Dockerfile names, under the names a registry would give them:
#   debian:bookworm-slim   a debootstrap of bookworm (minbase, ca-certificates) imported with
#                          `docker import`;
#   rust:1.95-bookworm     the same plus gcc, libc6-dev and pkg-config, this machine's Rust
#                          toolchain (rustup's, without its docs) in /usr/local, and a cargo home
#                          (/usr/local/cargo) pre-filled with this machine's crates.io cache
#                          (`cargo fetch --locked` first fills it with what Cargo.lock names).
# The offline path of README "Containers": the Dockerfile is never edited for it. A machine with
# a registry needs none of this (`docker build` pulls the official images).
#
# Idempotent: an image that already exists is kept (`--force` rebuilds both). Needs root (for
# debootstrap) and a running Docker engine. Temporary root filesystems live under a mktemp
# directory, removed on exit, success or not.
set -euo pipefail

RUNTIME_IMAGE=debian:bookworm-slim
BUILDER_IMAGE=rust:1.95-bookworm
RUST_MINOR=1.95
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
FORCE=0
[[ ${1:-} == --force ]] && FORCE=1

say() { printf '[local-base-images] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 2; }
# Runs "$@" and says how long it took.
timed() {
    local label=$1; shift
    local start=$SECONDS
    "$@"
    say "$label: $((SECONDS - start)) s"
}

[[ $(id -u) == 0 ]] || die "run as root (debootstrap needs it)"
docker info >/dev/null 2>&1 || die "the Docker engine does not answer (docker info)"
repo_root=$(cd "$(dirname "$0")/.." && pwd)
grep -q "^FROM $BUILDER_IMAGE " "$repo_root/Dockerfile" \
    || die "the Dockerfile no longer names $BUILDER_IMAGE: update this script's names"
grep -q "^FROM $RUNTIME_IMAGE" "$repo_root/Dockerfile" \
    || die "the Dockerfile no longer names $RUNTIME_IMAGE: update this script's names"

have_image() { [[ $FORCE == 0 ]] && docker image inspect "$1" >/dev/null 2>&1; }

if have_image "$RUNTIME_IMAGE" && have_image "$BUILDER_IMAGE"; then
    say "$RUNTIME_IMAGE and $BUILDER_IMAGE exist already; nothing to do (--force rebuilds them)"
    exit 0
fi

if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap from Debian's packages"
    timed "apt-get install debootstrap" apt-get install -y -q debootstrap >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q debootstrap >/dev/null; }
fi

work=$(mktemp -d /tmp/pygmy-base-images.XXXXXX)
cleanup() { rm -rf --one-file-system "$work"; }
trap cleanup EXIT
mkdir -p "$work/debs"

# debootstrap SUITE into "$work/$1" with extra packages "$2", then trims what an image never
# needs (apt lists, docs, man pages, locales), as the official slim images do.
bootstrap() {
    local dir=$work/$1 include=$2
    say "debootstrap $SUITE (minbase, +$include) into $dir"
    debootstrap --variant=minbase --include="$include" --cache-dir="$work/debs" \
        "$SUITE" "$dir" "$MIRROR" >"$work/$1.log" 2>&1 \
        || { tail -20 "$work/$1.log" >&2; die "debootstrap failed"; }
    rm -rf "$dir"/var/lib/apt/lists/* "$dir"/var/cache/apt/*.bin "$dir"/var/cache/apt/archives/*.deb \
        "$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* "$dir"/usr/share/locale/*
}

# Imports the root filesystem "$work/$1" as image "$2", "${@:3}" being `--change` instructions.
import() {
    local dir=$work/$1 image=$2; shift 2
    local changes=()
    for c in "$@"; do changes+=(--change "$c"); done
    tar --numeric-owner -C "$dir" -c . | docker import "${changes[@]}" - "$image" >/dev/null
    say "imported $image ($(docker image inspect -f '{{.Size}}' "$image" | numfmt --to=iec))"
}

if have_image "$RUNTIME_IMAGE"; then
    say "$RUNTIME_IMAGE exists, kept"
else
    timed "debootstrap runtime" bootstrap runtime ca-certificates
    timed "import $RUNTIME_IMAGE" import runtime "$RUNTIME_IMAGE" 'CMD ["bash"]'
fi

if have_image "$BUILDER_IMAGE"; then
    say "$BUILDER_IMAGE exists, kept"
    exit 0
fi

rustc_version=$(rustc --version | awk '{print $2}')
[[ $rustc_version == "$RUST_MINOR".* ]] \
    || die "this machine's rustc is $rustc_version, the Dockerfile names $BUILDER_IMAGE"
toolchain=$(rustc --print sysroot)
say "toolchain: $toolchain (rustc $rustc_version)"

timed "debootstrap builder" bootstrap builder ca-certificates,gcc,libc6-dev,pkg-config,make
# The toolchain as its own installer would lay it out with --prefix=/usr/local: rustc finds its
# sysroot relative to its binary, so no rustup is needed. Its docs (share/doc) are left out.
copy_toolchain() {
    local dest=$work/builder/usr/local
    cp -a "$toolchain/bin/." "$dest/bin/"
    cp -a "$toolchain/lib/." "$dest/lib/"
    [[ -d $toolchain/libexec ]] && cp -a "$toolchain/libexec" "$dest/"
    # A cargo home holding this machine's crates.io cache, so that `cargo build --locked` works
    # with no network in the build (CARGO_NET_OFFLINE below); a lock file needing a crate this
    # machine never downloaded fails with cargo's own message naming it.
    # On a machine that never built the project the cache is empty: fetch what Cargo.lock names.
    cargo fetch --locked --manifest-path "$repo_root/Cargo.toml" >/dev/null
    mkdir -p "$dest/cargo"
    cp -a "${CARGO_HOME:-$HOME/.cargo}/registry" "$dest/cargo/"
}
timed "copy toolchain and crates.io cache" copy_toolchain
timed "import $BUILDER_IMAGE" import builder "$BUILDER_IMAGE" \
    'ENV CARGO_HOME=/usr/local/cargo' \
    'ENV CARGO_NET_OFFLINE=true' \
    'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    'CMD ["bash"]'
say "done: $RUNTIME_IMAGE and $BUILDER_IMAGE"
