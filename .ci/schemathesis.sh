#!/usr/bin/env bash
# Schema-driven fuzzing of the public API (#17): starts a local cluster on free loopback ports
# (`pygmy up` on a configuration of its own), then runs schemathesis, installed from PyPI into a
# virtual environment of the project's, against the frontend's `/openapi.json` with every check
# and every phase (coverage, fuzzing, stateful). Stops the cluster on every exit.
#   .ci/schemathesis.sh [EXAMPLES] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
examples=${1:-100}
seed=${2:-20261203}
say() { printf '[schemathesis] %s\n' "$*" >&2; }

venv=${CARGO_TARGET_DIR:-target}/ci-venv
if [[ ! -x $venv/bin/schemathesis ]]; then
    say "installing $(grep -v '^#' .ci/schemathesis.txt) into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r .ci/schemathesis.txt
fi
cargo build --locked --bin pygmy
pygmy=${CARGO_TARGET_DIR:-target}/debug/pygmy

work=$(mktemp -d)
up_pid=
cleanup() {
    if [[ -n $up_pid ]] && kill -0 "$up_pid" 2>/dev/null; then
        kill -INT "$up_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$up_pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL "$up_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Seven free loopback ports, and tokens of this run's own.
read -r -a ports < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(7)]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))')
token() { python3 -c 'import secrets; print(secrets.token_hex(16))'; }
admin=$(token)
cat > "$work/cluster.toml" <<TOML
data_dir = "$work/data"
cluster_token = "$(token)"
admin_token = "$admin"
[frontend]
addr = "127.0.0.1:${ports[0]}"
[catalog]
replicas = ["127.0.0.1:${ports[1]}", "127.0.0.1:${ports[2]}", "127.0.0.1:${ports[3]}"]
[orders]
replicas = ["127.0.0.1:${ports[4]}", "127.0.0.1:${ports[5]}", "127.0.0.1:${ports[6]}"]
TOML
"$pygmy" up --config "$work/cluster.toml" >"$work/up.log" 2>&1 &
up_pid=$!
base=http://127.0.0.1:${ports[0]}
if ! python3 - "$base/ready" <<'PY'
import sys, time, urllib.request
deadline = time.monotonic() + 90
while time.monotonic() < deadline:
    try:
        if urllib.request.urlopen(sys.argv[1], timeout=2).status == 200:
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.5)
sys.exit(1)
PY
then
    say "the cluster was not ready within 90 s; its log:"
    cat "$work/up.log" >&2
    exit 1
fi

say "$examples examples per operation, seed $seed, against $base"
started=$SECONDS
"$venv/bin/schemathesis" --no-color --config-file .ci/schemathesis.toml run "$base/openapi.json" \
    --header "Authorization: Bearer $admin" \
    --checks all \
    --max-examples "$examples" \
    --seed "$seed"
say "passed in $((SECONDS - started)) s"
