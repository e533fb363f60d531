#!/usr/bin/env bash
# Installs the real storage peers the end-to-end tests start:
#   - moto (S3 API, any credentials)          -> <tools>/venv/bin/moto_server
#   - gcp-storage-emulator (GCS JSON API)      -> <tools>/venv/bin/gcp-storage-emulator
#   - s3s-fs (S3 API that checks SigV4)        -> <tools>/bin/s3s-fs
#   - azurite (Azure Blob API, shared-key auth) -> <tools>/node/node_modules/.bin/azurite-blob
# and the browser the download-page tests drive (tests/browser/):
#   - Debian's chromium (+ chromium-driver)    -> /usr/bin/chromium
#   - playwright-core (drives it, no browsers) -> <tools>/node/node_modules/playwright-core
# and a gRPC client nobody here wrote (tests/grpc_js/, tests/it/broker_grpc_js.rs):
#   - @grpc/grpc-js + @grpc/proto-loader       -> <tools>/node/node_modules/@grpc/
# and the offline validator of the Kubernetes manifests (tests/it/deploy_manifests.rs):
#   - kubernetes-validate (bundles the schemas) -> <tools>/k8s-validate/bin/kubernetes-validate
# into <repo>/.tools (override with SHARDGATE_TOOLS).
#
#   scripts/install-test-peers.sh            # everything
#   scripts/install-test-peers.sh azurite    # only the named steps: python (moto and
#                                            # the GCS emulator), s3s-fs, chromium,
#                                            # playwright, grpc-js, azurite, k8s-validate
#
# Idempotent and cached: a second run only checks versions and returns within
# a second or two. Runs without a terminal (CI=true, no stdin).
set -euo pipefail

# Pinned versions: bump here (and only here) to move the whole team.
MOTO_VERSION="5.2.5"
GCS_EMULATOR_VERSION="2026.7.19"
S3S_FS_VERSION="0.14.1"
PLAYWRIGHT_CORE_VERSION="1.65.2"
GRPC_JS_VERSION="1.14.7"
PROTO_LOADER_VERSION="0.8.1"
# The last release that runs on Node 20 (3.36 and later want Node >= 21).
AZURITE_VERSION="3.35.0"
# Bundles the Kubernetes JSON schemas of 1.25 to 1.37: validates offline.
K8S_VALIDATE_VERSION="1.37.0"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${SHARDGATE_TOOLS:-$REPO/.tools}"
VENV="$TOOLS/venv"
PY_PINS="moto[server]==$MOTO_VERSION gcp-storage-emulator==$GCS_EMULATOR_VERSION"
# Transitive Python dependencies, pinned so the servers do not drift under us.
PY_CONSTRAINTS="$REPO/scripts/test-peers-constraints.txt"
# The manifest validator has a venv of its own: its pins never move moto's.
K8S_VENV="$TOOLS/k8s-validate"
K8S_PINS="kubernetes-validate==$K8S_VALIDATE_VERSION"
K8S_CONSTRAINTS="$REPO/scripts/k8s-validate-constraints.txt"

export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_INPUT=1 DEBIAN_FRONTEND=noninteractive

log() { printf '[install-test-peers] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

mkdir -p "$TOOLS"
# Several engineers (and CI steps) may run this at once: serialise on a lock
# file so two pip/cargo runs never write into the same directory.
exec 9>"$TOOLS/.install.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi

# Runs apt-get only as root (CI images); otherwise tells the user what to do.
apt_install() {
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian packages: $*"
        apt-get update -qq </dev/null >&2
        apt-get install -y -qq "$@" </dev/null >&2
    else
        die "missing system packages ($*): install them (e.g. apt-get install $*) and re-run"
    fi
}

find_python() {
    local candidate
    for candidate in "${SHARDGATE_PYTHON:-}" python3.11 python3 python; do
        [ -n "$candidate" ] || continue
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

# `install_venv DIR PINS CONSTRAINTS EXE...`: a venv in DIR holding PINS
# (pinned further by the CONSTRAINTS file), unless its stamp says it already
# does and every EXE is in DIR/bin.
install_venv() {
    local venv="$1" pins="$2" constraints="$3" stamp="$1/.shardgate-pins" wanted exe ok=1
    shift 3
    wanted="$pins $(sha256sum "$constraints" | cut -d' ' -f1)"
    for exe in "$@"; do
        [ -x "$venv/bin/$exe" ] || ok=0
    done
    if [ "$ok" -eq 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
        log "already installed in $venv ($pins)"
        return 0
    fi
    local python
    python="$(find_python)" || {
        apt_install python3 python3-venv python3-pip
        python="$(find_python)" || die "no python3 >= 3.9 found"
    }
    # Debian splits venv/ensurepip into python3-venv: detect, then install.
    if ! "$python" -c 'import venv, ensurepip' 2>/dev/null; then
        apt_install python3-venv
    fi
    log "creating $venv with $python ($("$python" --version 2>&1))"
    # The stamp is written last, so an interrupted run leaves no stamp and the
    # next run starts from a clean venv instead of trusting a partial one.
    rm -rf "$venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip </dev/null >&2
    # shellcheck disable=SC2086 # pins is a list of requirement specifiers
    "$venv/bin/python" -m pip install --quiet -c "$constraints" $pins </dev/null >&2
    printf '%s' "$wanted" >"$stamp"
}

install_python_peers() {
    install_venv "$VENV" "$PY_PINS" "$PY_CONSTRAINTS" moto_server gcp-storage-emulator
}

s3s_fs_installed_version() {
    # `cargo install` records what it installed in <root>/.crates.toml.
    [ -x "$TOOLS/bin/s3s-fs" ] || return 1
    grep -o "^\"s3s-fs $S3S_FS_VERSION " "$TOOLS/.crates.toml" >/dev/null 2>&1 || return 1
    echo "$S3S_FS_VERSION"
}

install_s3s_fs() {
    if s3s_fs_installed_version >/dev/null; then
        log "s3s-fs $S3S_FS_VERSION already installed"
        return 0
    fi
    command -v cargo >/dev/null 2>&1 || die "cargo not found: install the Rust toolchain"
    # Own target dir: the workspace target dir is locked by concurrent builds,
    # and a separate one lets a later re-install reuse compiled dependencies.
    export CARGO_TARGET_DIR="$TOOLS/cargo-target"
    local args=(install s3s-fs --version "$S3S_FS_VERSION" --features binary --root "$TOOLS")
    log "building s3s-fs $S3S_FS_VERSION (takes a few minutes on 2 cores)"
    if ! cargo "${args[@]}" --locked </dev/null; then
        # The published lockfile can pin crates the local rustc cannot build;
        # fall back to fresh resolution within the manifest's semver ranges.
        log "cargo install --locked failed; retrying without --locked"
        cargo "${args[@]}" </dev/null
    fi
    s3s_fs_installed_version >/dev/null || die "s3s-fs $S3S_FS_VERSION missing after install"
}

# Debian's own build: playwright-core's bundled-browser download is not used,
# so the tests drive the same Chromium the distribution patches.
install_chromium() {
    if [ -x /usr/bin/chromium ]; then
        log "chromium already installed ($(/usr/bin/chromium --version 2>/dev/null || echo 'version unknown'))"
        return 0
    fi
    apt_install chromium chromium-driver
}

# Version of an npm package installed under <tools>/node, or nothing.
npm_installed_version() {
    local manifest="$TOOLS/node/node_modules/$1/package.json"
    [ -f "$manifest" ] || return 1
    node -e 'process.stdout.write(require(process.argv[1]).version)' "$manifest" 2>/dev/null
}

# npm packages share one prefix (<tools>/node): `npm install <pkg>@<version>`
# adds to its package.json and keeps what is already there.
install_npm_package() {
    local package="$1" version="$2"
    if [ "$(npm_installed_version "$package" || true)" = "$version" ]; then
        log "$package $version already installed"
        return 0
    fi
    command -v npm >/dev/null 2>&1 || apt_install nodejs npm
    log "installing $package $version"
    mkdir -p "$TOOLS/node"
    npm install --prefix "$TOOLS/node" --no-audit --no-fund --loglevel=error \
        "$package@$version" </dev/null >&2
    [ "$(npm_installed_version "$package" || true)" = "$version" ] ||
        die "$package $version missing after install"
}

AZURITE_BLOB="$TOOLS/node/node_modules/.bin/azurite-blob"

# One function per step: install (idempotent), then check it runs.
step_python() {
    install_python_peers
    "$VENV/bin/moto_server" --help >/dev/null 2>&1 || die "moto_server does not run"
    "$VENV/bin/gcp-storage-emulator" --help >/dev/null 2>&1 || die "gcp-storage-emulator does not run"
    log "ok: moto $MOTO_VERSION, gcp-storage-emulator $GCS_EMULATOR_VERSION"
}
step_s3s_fs() {
    install_s3s_fs
    "$TOOLS/bin/s3s-fs" --help >/dev/null 2>&1 || die "s3s-fs does not run"
    log "ok: s3s-fs $S3S_FS_VERSION"
}
step_chromium() {
    install_chromium
    /usr/bin/chromium --version >/dev/null 2>&1 || die "chromium does not run"
    log "ok: $(/usr/bin/chromium --version)"
}
step_grpc_js() {
    install_npm_package @grpc/grpc-js "$GRPC_JS_VERSION"
    install_npm_package @grpc/proto-loader "$PROTO_LOADER_VERSION"
    log "ok: @grpc/grpc-js $GRPC_JS_VERSION, @grpc/proto-loader $PROTO_LOADER_VERSION"
}
step_playwright() {
    install_npm_package playwright-core "$PLAYWRIGHT_CORE_VERSION"
    log "ok: playwright-core $PLAYWRIGHT_CORE_VERSION"
}
step_k8s_validate() {
    install_venv "$K8S_VENV" "$K8S_PINS" "$K8S_CONSTRAINTS" kubernetes-validate
    [ "$("$K8S_VENV/bin/kubernetes-validate" --version 2>&1)" = "$K8S_VALIDATE_VERSION" ] ||
        die "kubernetes-validate does not run or is not $K8S_VALIDATE_VERSION"
    log "ok: kubernetes-validate $K8S_VALIDATE_VERSION"
}
step_azurite() {
    install_npm_package azurite "$AZURITE_VERSION"
    # `--version` loads the whole server, so a Node too old for it fails here.
    "$AZURITE_BLOB" --version >/dev/null 2>&1 ||
        die "azurite-blob does not run on node $(node --version 2>/dev/null || echo '(none)')"
    log "ok: azurite $AZURITE_VERSION on node $(node --version)"
}

start=$SECONDS
steps=("$@")
if [ "${#steps[@]}" -eq 0 ]; then
    steps=(python s3s-fs chromium playwright grpc-js azurite k8s-validate)
fi
for step in "${steps[@]}"; do
    case "$step" in
    python) step_python ;;
    s3s-fs) step_s3s_fs ;;
    chromium) step_chromium ;;
    playwright) step_playwright ;;
    grpc-js) step_grpc_js ;;
    azurite) step_azurite ;;
    k8s-validate) step_k8s_validate ;;
    *) die "unknown step '$step' (known: python s3s-fs chromium playwright grpc-js azurite k8s-validate)" ;;
    esac
done
log "done (${steps[*]}) in $TOOLS in $((SECONDS - start)) s"
