#!/usr/bin/env bash
# Builds the broker's container image with no image registry and no Docker
# engine: Debian's podman builds deploy/Dockerfile (`--isolation chroot`) on
# a bookworm base that debootstrap makes from Debian's packages, with a
# `shardgate` binary built outside the image. `--check` then starts the
# image's broker and asks it for its health, the way the Deployment's probes
# do.
#
#   deploy/build-image.sh --check                 # release binary, image, check
#   deploy/build-image.sh --bin PATH --check      # an already built binary
#
# Options:
#   --bin PATH     take this binary instead of `cargo build --release`
#   --tag NAME     image name (default shardgate:dev, as kustomization.yaml)
#   --check        start the image's entrypoint and check its health
#
# The debootstrap root file system is cached as a tarball under
# <tools>/image-base (<repo>/.tools unless SHARDGATE_TOOLS is set; the folder
# is git-ignored): a second run reuses it. Runs as root (podman, debootstrap,
# chroot and mount need it); installs podman and debootstrap from Debian's
# packages when missing. Progress goes to stderr; exits non-zero on failure.
#
# Why not `podman run`: in a sandbox without the right to raise limits crun
# refuses to start (`setrlimit RLIMIT_NOFILE: Operation not permitted`), so
# the check runs the image's entrypoint, as the image's user, in a chroot of
# its mounted root file system, with emptyDir-like scratch mounts as in
# deploy/k8s/deployment.yaml.
set -euo pipefail

SUITE="bookworm"
# The runtime stage's two packages, so that the build needs no network: the
# CA roots for cloud providers, and OpenSSL (which the Dockerfile installs;
# today's binary links none: `readelf -d` lists libc, libm and libgcc_s).
BASE_PACKAGES="ca-certificates,libssl3"
BASE_IMAGE="shardgate-base:$SUITE"

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="${SHARDGATE_TOOLS:-$REPO/.tools}"
BASE_DIR="$TOOLS/image-base"
BASE_TAR="$BASE_DIR/$SUITE-rootfs.tar"
BASE_STAMP="$BASE_DIR/$SUITE-rootfs.stamp"
# Written into the stamp: a change here rebuilds the cached base.
BASE_RECIPE="debootstrap --variant=minbase --include=$BASE_PACKAGES $SUITE, slimmed"

BIN=""
TAG="shardgate:dev"
CHECK=0

export DEBIAN_FRONTEND=noninteractive

log() { printf '[build-image] %s\n' "$*" >&2; }
die() {
    log "ERROR: $*"
    exit 1
}
usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
    exit "${1:-0}"
}

while [ "$#" -gt 0 ]; do
    case "$1" in
    --bin)
        [ "$#" -ge 2 ] || die "--bin needs a path"
        BIN="$2"
        shift 2
        ;;
    --tag)
        [ "$#" -ge 2 ] || die "--tag needs a name"
        TAG="$2"
        shift 2
        ;;
    --check)
        CHECK=1
        shift
        ;;
    -h | --help) usage 0 ;;
    *)
        log "unknown argument: $1"
        usage 2
        ;;
    esac
done

[ "$(id -u)" -eq 0 ] || die "run as root: podman build --isolation chroot, debootstrap and the check's chroot need it"

# `step LABEL CMD...`: runs CMD and prints how long it took.
step() {
    local label="$1" start=$SECONDS
    shift
    log "== $label"
    "$@"
    log "== $label: done in $((SECONDS - start)) s"
}

need_tools() {
    local missing=()
    command -v podman >/dev/null 2>&1 || missing+=(podman)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    command -v curl >/dev/null 2>&1 || missing+=(curl)
    if [ "${#missing[@]}" -eq 0 ]; then
        log "podman $(podman --version | awk '{print $3}'), debootstrap $(debootstrap --version | awk '{print $2}')"
        return 0
    fi
    command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get to install them"
    log "installing Debian packages: ${missing[*]}"
    apt-get update -qq </dev/null >&2
    apt-get install -y -qq "${missing[@]}" </dev/null >&2
}

# The machine's own Debian mirror for $SUITE, from its apt sources (one-line
# and deb822 formats); nothing when none is found, so debootstrap takes its
# default. No host name is written down here on purpose.
apt_mirror() {
    {
        cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
            awk -v suite="$SUITE" '$1 == "deb" {
                i = 2
                if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }'
        cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
            awk -v suite="$SUITE" 'BEGIN { RS = "" } {
                deb = 0; has = 0; uri = ""
                n = split($0, lines, "\n")
                for (l = 1; l <= n; l++) {
                    split(lines[l], w, /[ \t]+/)
                    if (w[1] == "Types:") for (k = 2; k in w; k++) if (w[k] == "deb") deb = 1
                    if (w[1] == "Suites:") for (k = 2; k in w; k++) if (w[k] == suite) has = 1
                    if (w[1] == "URIs:" && uri == "") uri = w[2]
                }
                if (deb && has && uri != "") { print uri; exit }
            }'
    } | head -n 1
}

# As Debian's slim images: no manuals, translations or docs (copyright
# files stay), now and for packages installed later; no package lists or
# caches. Takes a debootstrap root from ~137 MB to ~88 MB.
slim_root() {
    local root="$1"
    cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF_DPKG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF_DPKG
    find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
    rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/*
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
}

base_is_cached() {
    [ -s "$BASE_TAR" ] && [ -f "$BASE_STAMP" ] && [ "$(cat "$BASE_STAMP")" = "$BASE_RECIPE" ]
}

make_base() {
    if base_is_cached; then
        log "cached base: $BASE_TAR ($(du -h "$BASE_TAR" | cut -f1)); delete it to rebuild"
        return 0
    fi
    mkdir -p "$BASE_DIR"
    local root="$BASE_DIR/rootfs.partial" mirror
    rm -rf "$root" "$BASE_TAR" "$BASE_STAMP"
    mirror="$(apt_mirror)"
    log "debootstrap $SUITE (minbase + $BASE_PACKAGES) from ${mirror:-the default mirror}"
    # shellcheck disable=SC2086 # an empty mirror means "debootstrap's default"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$root" $mirror </dev/null >"$BASE_DIR/debootstrap.log" 2>&1 ||
        die "debootstrap failed; see $BASE_DIR/debootstrap.log"
    slim_root "$root"
    # The stamp is written last: an interrupted run leaves none and starts over.
    tar --numeric-owner -C "$root" -cf "$BASE_TAR.partial" .
    mv "$BASE_TAR.partial" "$BASE_TAR"
    rm -rf "$root"
    printf '%s' "$BASE_RECIPE" >"$BASE_STAMP"
    log "base cached: $BASE_TAR ($(du -h "$BASE_TAR" | cut -f1))"
}

import_base() {
    # The image carries the tarball's digest, so a rebuilt base is imported again.
    local digest
    digest="$(sha256sum "$BASE_TAR" | cut -d' ' -f1)"
    if podman image exists "$BASE_IMAGE" &&
        [ "$(podman image inspect --format '{{index .Config.Labels "io.shardgate.base-tar"}}' "$BASE_IMAGE")" = "$digest" ]; then
        log "$BASE_IMAGE already imported"
        return 0
    fi
    podman import --quiet --change "LABEL io.shardgate.base-tar=$digest" "$BASE_TAR" "$BASE_IMAGE" >/dev/null
    log "imported $BASE_IMAGE"
}

build_binary() {
    if [ -n "$BIN" ]; then
        [ -x "$BIN" ] || die "--bin $BIN is not an executable file"
        log "binary: $BIN (given)"
        return 0
    fi
    local target_dir
    target_dir="$(cd "$REPO" && cargo metadata --format-version 1 --no-deps |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
    [ -n "$target_dir" ] || die "cargo metadata gave no target directory"
    (cd "$REPO" && cargo build --release --locked -p shardgate-cli --bin shardgate)
    BIN="$target_dir/release/shardgate"
    log "binary: $BIN"
}

build_image() {
    # The context is the binary alone: the repository (and its target dir)
    # is not sent to the builder.
    local context build_log="$TOOLS/image-build.log"
    context="$(mktemp -d)"
    cp "$BIN" "$context/shardgate"
    # The release profile keeps line tables for profiling; the image does
    # not need them (a 190 MB binary becomes a fraction of that).
    if command -v strip >/dev/null 2>&1; then
        strip --strip-debug "$context/shardgate"
    fi
    log "podman build --isolation chroot -f deploy/Dockerfile (BASE=$BASE_IMAGE, BINARY_FROM=prebuilt); log: $build_log"
    podman build --isolation chroot \
        --build-arg "BASE=$BASE_IMAGE" --build-arg BINARY_FROM=prebuilt \
        -f "$REPO/deploy/Dockerfile" -t "$TAG" "$context" >"$build_log" 2>&1 || {
        rm -rf "$context"
        tail -n 30 "$build_log" | sed 's/^/    /' >&2
        die "podman build failed; see $build_log"
    }
    rm -rf "$context"
    local size
    size="$(podman image inspect --format '{{.Size}}' "$TAG")"
    log "image $TAG: $((size / 1024 / 1024)) MiB ($(podman image inspect --format '{{.Id}}' "$TAG" | cut -c1-12))"
}

# ---- the check: the image's broker, started from its mounted root ----------

CHECK_ROOT=""
CHECK_PID=""
CHECK_MOUNTS=()

cleanup_check() {
    if [ -n "$CHECK_PID" ] && kill -0 "$CHECK_PID" 2>/dev/null; then
        kill -KILL "$CHECK_PID" 2>/dev/null || true
        wait "$CHECK_PID" 2>/dev/null || true
    fi
    local i
    for ((i = ${#CHECK_MOUNTS[@]} - 1; i >= 0; i--)); do
        umount "${CHECK_MOUNTS[i]}" 2>/dev/null || umount -l "${CHECK_MOUNTS[i]}" 2>/dev/null || true
    done
    CHECK_MOUNTS=()
    if [ -n "$CHECK_ROOT" ]; then
        podman image unmount "$TAG" >/dev/null 2>&1 || true
        CHECK_ROOT=""
    fi
}

# The image's root is read-only: its mount points must be in the image.
mount_in_root() {
    local target="$CHECK_ROOT$1"
    shift
    [ -d "$target" ] || die "the image has no ${target#"$CHECK_ROOT"} to mount on"
    mount "$@" "$target"
    CHECK_MOUNTS+=("$target")
}

# deploy/k8s/broker.toml without what needs the cluster: the [index] and
# [payments] tables (PostgreSQL and LND are not here; the index falls back to
# the embedded one in data_dir). Listen addresses come from env below.
check_config() {
    awk '
        /^\[/ { skip = ($0 ~ /^\[(index|payments)\]/) }
        !skip
    ' "$REPO/deploy/k8s/broker.toml"
}

# A gRPC health Check over h2c with curl, as the kubelet's grpc probe does:
# prints the serving status (1 = SERVING) or nothing.
grpc_health() {
    local addr="$1" service="$2" request response
    request="$(mktemp)"
    response="$(mktemp)"
    if [ -z "$service" ]; then
        printf '\0\0\0\0\0' >"$request"
    else
        # HealthCheckRequest{service}: field 1, length-delimited (names < 128 bytes).
        local len=${#service}
        printf "\\0\\0\\0\\0\\$(printf '%03o' $((len + 2)))\\n\\$(printf '%03o' "$len")%s" "$service" >"$request"
    fi
    curl -sS --http2-prior-knowledge --max-time 5 -X POST \
        -H 'content-type: application/grpc' -H 'te: trailers' \
        --data-binary "@$request" -o "$response" "http://$addr/grpc.health.v1.Health/Check" 2>/dev/null || true
    # Response: 5-byte frame header, then HealthCheckResponse{status} = 08 <status>.
    od -An -tx1 -v "$response" | tr -d ' \n' | sed -n 's/^000000000208\(..\)$/\1/p'
    rm -f "$request" "$response"
}

check_image() {
    trap cleanup_check EXIT
    # The image itself, read-only, as readOnlyRootFilesystem in the pod.
    CHECK_ROOT="$(podman image mount "$TAG")"
    log "image $TAG mounted read-only at $CHECK_ROOT"

    local user workdir entrypoint=() cmd=() env=()
    user="$(podman image inspect --format '{{.Config.User}}' "$TAG")"
    workdir="$(podman image inspect --format '{{.Config.WorkingDir}}' "$TAG")"
    mapfile -t entrypoint < <(podman image inspect --format '{{range .Config.Entrypoint}}{{println .}}{{end}}' "$TAG" | sed '/^$/d')
    mapfile -t cmd < <(podman image inspect --format '{{range .Config.Cmd}}{{println .}}{{end}}' "$TAG" | sed '/^$/d')
    mapfile -t env < <(podman image inspect --format '{{range .Config.Env}}{{println .}}{{end}}' "$TAG" | sed '/^$/d')
    [ "${#entrypoint[@]}" -gt 0 ] || die "the image has no entrypoint"
    case "$user" in
    "" | 0 | 0:* | root | root:*) die "the image runs as root (USER '$user'); the Deployment requires runAsNonRoot" ;;
    esac
    log "entrypoint: ${entrypoint[*]} ${cmd[*]} (user $user, workdir $workdir)"

    # What the pod gets: the kernel's /proc and /dev, emptyDirs for the
    # data dir and /tmp (writable by the pod's user), and the config where
    # the ConfigMap is mounted.
    mount_in_root /proc -t proc proc
    mount_in_root /dev --bind /dev
    mount_in_root /var/lib/shardgate -t tmpfs -o "size=64m,mode=0750,uid=${user%%:*},gid=${user##*:}" tmpfs
    mount_in_root /tmp -t tmpfs -o size=64m,mode=1777 tmpfs
    mount_in_root /etc/shardgate -t tmpfs -o size=1m,mode=0755 tmpfs
    check_config >"$CHECK_ROOT/etc/shardgate/broker.toml"

    local log_file master_key
    log_file="$(mktemp)"
    master_key="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    # Port 0: the broker picks free ports and prints them. The sh wrapper
    # enters the image's WORKDIR (chroot has no option for it).
    # shellcheck disable=SC2016 # $1 and $@ are for that sh, not this one
    env -i "${env[@]}" RUST_LOG=info NO_COLOR=1 \
        SHARDGATE_MASTER_KEY="$master_key" \
        SHARDGATE_LISTEN=127.0.0.1:0 SHARDGATE_METRICS_LISTEN=127.0.0.1:0 SHARDGATE_HTTP_LISTEN=127.0.0.1:0 \
        chroot --userspec="$user" "$CHECK_ROOT" \
        sh -c 'cd "$1" && shift && exec "$@"' sh "${workdir:-/}" "${entrypoint[@]}" "${cmd[@]}" \
        >"$log_file" 2>&1 &
    CHECK_PID=$!
    log "broker started from the image (pid $CHECK_PID), log $log_file"

    local grpc="" metrics="" http="" deadline=$((SECONDS + 60))
    while [ -z "$grpc" ]; do
        kill -0 "$CHECK_PID" 2>/dev/null || {
            sed 's/^/    /' "$log_file" >&2
            die "the image's broker exited before listening"
        }
        [ "$SECONDS" -lt "$deadline" ] || die "the image's broker did not listen within 60 s"
        sleep 0.2
        grpc="$(sed -n 's/^listening on \(.*\)$/\1/p' "$log_file" | head -n 1)"
    done
    metrics="$(grep -o 'http://127\.0\.0\.1:[0-9]*/metrics' "$log_file" | head -n 1)"
    http="$(sed -n 's/^http gateway on \(.*\)$/\1/p' "$log_file" | head -n 1)"
    log "listening: gRPC $grpc, $metrics, HTTP gateway $http"

    # Liveness probes "", readiness the Storage service (deployment.yaml).
    local service status
    for service in "" shardgate.v1.Storage; do
        deadline=$((SECONDS + 30))
        until status="$(grpc_health "$grpc" "$service")" && [ "$status" = "01" ]; do
            [ "$SECONDS" -lt "$deadline" ] || die "gRPC health '${service}' is not SERVING (status '${status:-no answer}')"
            sleep 0.5
        done
        log "ok: grpc.health.v1.Health/Check '${service}' = SERVING"
    done
    # The two HTTP ports of the Service: /metrics and the gateway.
    local url answer
    for url in "$metrics" "http://$http/assets/share.js"; do
        case "$url" in http:///* | "") die "no /metrics or gateway address in the broker's log" ;; esac
        answer="$(curl -sS --max-time 5 -o /dev/null -w '%{http_code} %{content_type}' "$url" || true)"
        [ "${answer%% *}" = 200 ] || die "GET $url answered '${answer:-nothing}', not 200"
        log "ok: GET $url: $answer"
    done

    # SIGTERM, as the kubelet sends: the broker drains and exits 0.
    kill -TERM "$CHECK_PID"
    local rc=0
    wait "$CHECK_PID" || rc=$?
    CHECK_PID=""
    [ "$rc" -eq 0 ] || {
        sed 's/^/    /' "$log_file" >&2
        die "the image's broker exited with $rc after SIGTERM"
    }
    log "ok: the broker stopped on SIGTERM (exit 0)"
    rm -f "$log_file"
    cleanup_check
    trap - EXIT
}

total=$SECONDS
step "tools" need_tools
step "binary" build_binary
step "base root file system ($SUITE)" make_base
step "import $BASE_IMAGE" import_base
step "podman build $TAG" build_image
if [ "$CHECK" -eq 1 ]; then
    step "check: start the image's broker, ask its health" check_image
fi
log "all done in $((SECONDS - total)) s"
