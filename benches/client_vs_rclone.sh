#!/usr/bin/env bash
# Whole-process client benchmark: `shardgate put/get` against a
# `shardgate dev --keep` broker (three local fs providers, in the dev
# process) beside `rclone copy` through a crypt remote over a local remote.
# Both tools encrypt and both store on the same local disk, so the figures
# compare the client paths (plus, for Shardgate, the broker on loopback).
#
# The operations run interleaved in one run, round after round:
#   shardgate put FILE, rclone copy FILE crypt:rN,
#   shardgate get BLOB -o OUT, rclone copy crypt:rN/FILE OUTDIR
# so a machine that slows down mid-run slows both tools alike. Each round
# uploads a fresh random file: the same content again would be deduplicated
# by the broker (no shard written) and skipped by rclone.
#
# Nothing is dropped from the page cache (that needs root and would measure
# the disk, not the clients): the input file was just written, so both
# tools read it from memory. Each operation starts on a quiet disk: `sync`
# (untimed) runs before it, so the writes one tool leaves to the kernel
# (rclone never syncs) are not written back on the next tool's clock.
#
# What each get moves through the disk differs: rclone reads its store
# from the page cache and leaves its output there, so its timed window
# does no disk I/O; Shardgate's fs providers read shards with O_DIRECT
# (no cache), and `shardgate get` writes the output with O_DIRECT and syncs
# it before it returns (durable). So the stores (the broker's providers
# and rclone's local remote) can be put elsewhere with --store-dir: on a
# tmpfs, as a remote's disk would be another machine's, and the only disk
# in the comparison is the output's. docs/performance.md gives both.
#
# So each round also times `sync FILE` (fsync) of rclone's output right
# after its get, and the summary gives the get against rclone made durable
# as well (get-rclone+fsync). And at the end the output's disk is timed
# with dd: writing and syncing SIZE bytes, reading SIZE bytes, and both at
# once, which is the floor under any durable get whose stores share that
# disk.
#
# rclone's get also depends on whether its store is still in the page
# cache. Its local backend drops the pages of a file it has read
# (POSIX_FADV_DONTNEED), and what is left after the put depends on the
# machine's memory: on one machine the same rclone get took 0.9 s with its
# store cached and 1.2–1.5 s with it read from the disk. --cold-stores
# drops rclone's store from the cache (GNU dd iflag=nocache, no root
# needed) before each rclone get, so both tools read their stores from
# the disk, Shardgate's being never cached (see docs/performance.md,
# "Session 13").
#
# Usage: benches/client_vs_rclone.sh [--size 1GiB] [--rounds 3] [--bin PATH]
#                                    [--store-dir DIR] [--cold-stores]
#   --store-dir: where the stores live (default: the bench's temp dir,
#   beside the input and the outputs).
#   --cold-stores: rclone's store out of the page cache before its get
#   (no effect on a tmpfs, whose pages are the files).
#   --bin (or SHARDGATE_BIN): the shardgate binary, default
#   target/release/shardgate of this checkout (build it with
#   `cargo build --release -p shardgate-cli --bin shardgate`).
# Needs rclone (installed from Debian with apt-get when run as root and
# missing) and GNU time at /usr/bin/time (likewise).
set -euo pipefail

size_arg=1GiB
rounds=3
bin=${SHARDGATE_BIN:-}
store_parent=
cold_stores=false
while [[ $# -gt 0 ]]; do
    case $1 in
        --size) size_arg=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        --bin) bin=$2; shift 2 ;;
        --store-dir) store_parent=$2; shift 2 ;;
        --cold-stores) cold_stores=true; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "client_vs_rclone: $*" >&2; exit 1; }

# Sizes as MiB/GiB multiples or plain bytes.
case $size_arg in
    *GiB) size=$(( ${size_arg%GiB} << 30 )) ;;
    *MiB) size=$(( ${size_arg%MiB} << 20 )) ;;
    *[!0-9]*|'') die "--size must be N, NMiB or NGiB, not $size_arg" ;;
    *) size=$size_arg ;;
esac
[[ $size -gt 0 ]] || die "--size must be at least 1 byte"
[[ $rounds =~ ^[1-9][0-9]*$ ]] || die "--rounds must be a positive integer, not $rounds"

repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${bin:-$repo/target/release/shardgate}
[[ -x $bin ]] || die "no shardgate binary at $bin: build it with 'cargo build --release -p shardgate-cli --bin shardgate' or pass --bin / SHARDGATE_BIN"

# Debian's packages, never a download of our choosing.
need_package() { # command package
    command -v "$1" >/dev/null 2>&1 && return 0
    [[ $(id -u) -eq 0 ]] || die "$1 is not installed; install Debian's '$2' package (apt-get install $2) or run as root"
    echo "installing Debian's $2 (apt-get install -y $2)" >&2
    apt-get install -y "$2" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y "$2" >/dev/null; } \
        || die "apt-get install $2 failed"
}
need_package rclone rclone
[[ -x /usr/bin/time ]] || { need_package /usr/bin/time time; }
command -v cmp >/dev/null || die "cmp (diffutils) is missing"

work=$(mktemp -d "${TMPDIR:-/tmp}/client-vs-rclone.XXXXXX")
stores=$work
if [[ -n $store_parent ]]; then
    [[ -d $store_parent ]] || die "--store-dir $store_parent is not a directory"
    stores=$(mktemp -d "$store_parent/client-vs-rclone-stores.XXXXXX")
fi
dev_pid=
cleanup() {
    if [[ -n $dev_pid ]] && kill -0 "$dev_pid" 2>/dev/null; then
        kill -TERM "$dev_pid" 2>/dev/null || true
        wait "$dev_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
    [[ $stores == "$work" ]] || rm -rf "$stores"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- the broker: `shardgate dev --keep` (redb, three fs providers) -------
"$bin" dev --keep --dir "$stores/dev" --sample-size 1MiB >"$work/dev.log" 2>&1 &
dev_pid=$!
for _ in $(seq 1 600); do
    grep -qs '^press ctrl-c to stop' "$work/dev.log" && break
    kill -0 "$dev_pid" 2>/dev/null || { cat "$work/dev.log" >&2; die "shardgate dev exited"; }
    sleep 0.1
done
grep -qs '^press ctrl-c to stop' "$work/dev.log" || { cat "$work/dev.log" >&2; die "shardgate dev did not come up in 60 s"; }
broker=$(sed -n 's/^ *export SHARDGATE_BROKER=//p' "$work/dev.log")
api_key=$(sed -n 's/^ *export SHARDGATE_API_KEY=//p' "$work/dev.log")
[[ $broker == http://127.0.0.1:* && -n $api_key ]] || { cat "$work/dev.log" >&2; die "cannot parse the broker URL / API key printed by shardgate dev"; }
export SHARDGATE_BROKER=$broker SHARDGATE_API_KEY=$api_key
# The dev broker prices every download (its minimum, 1 msat for 1 GiB):
# `get` pays from the dev wallet node, as `shardgate dev --keep` says.
while IFS='=' read -r name value; do
    export "$name=$value"
done < <(sed -n 's/^ *export \(SHARDGATE_PAYER_LND_[A-Z_]*=.*\)$/\1/p' "$work/dev.log")
[[ -n ${SHARDGATE_PAYER_LND_ENDPOINT:-} ]] || { cat "$work/dev.log" >&2; die "shardgate dev printed no wallet node (SHARDGATE_PAYER_LND_ENDPOINT)"; }

# --- rclone: crypt over a local directory, in a private config ----------
conf=$work/rclone.conf
mkdir -p "$stores/rclone-store"
{
    echo "[store]"
    echo "type = local"
    echo
    echo "[crypt]"
    echo "type = crypt"
    echo "remote = store:$stores/rclone-store"
    echo "password = $(rclone obscure "bench-$RANDOM-$RANDOM")"
    echo "password2 = $(rclone obscure "salt-$RANDOM-$RANDOM")"
} >"$conf"
rc() { rclone --config "$conf" "$@"; }

# Broker CPU (the dev process) in clock ticks: utime + stime.
ticks_per_s=$(getconf CLK_TCK)
broker_ticks() { awk '{print $14 + $15}' "/proc/$dev_pid/stat"; }

# run NAME CMD...: wall nanoseconds, client peak RSS (KiB) and client CPU
# seconds (GNU time), broker CPU ticks during the command; appended to
# results. `sync` first (untimed), so no operation pays for the writes
# the previous one left to the kernel; run_unsynced skips it, for the one
# operation that is meant to pay for them (rclone's output made durable).
results=$work/results
run() {
    sync
    run_unsynced "$@"
}
run_unsynced() {
    local name=$1; shift
    local t0 t1 b0 b1
    b0=$(broker_ticks)
    t0=$(date +%s%N)
    /usr/bin/time -f "%M %U %S" -o "$work/rss" "$@" >"$work/out.log" 2>&1 \
        || { cat "$work/out.log" >&2; die "$name failed: $*"; }
    t1=$(date +%s%N)
    b1=$(broker_ticks)
    read -r rss usr sys < <(tail -n1 "$work/rss")
    echo "$name $(( t1 - t0 )) $rss $(( b1 - b0 )) $usr $sys" >>"$results"
}

echo "shardgate: $bin ($("$bin" --version 2>/dev/null || echo '?'))"
echo "rclone:    $(rclone version 2>/dev/null | head -n1)"
echo "broker:    $broker (shardgate dev --keep, three fs providers in $stores/dev)"
echo "stores:    $stores ($(df --output=fstype "$stores" | tail -n1)); outputs in $work ($(df --output=fstype "$work" | tail -n1))"
echo "size:      $size bytes, $rounds round(s), interleaved; rclone's store $($cold_stores && echo 'dropped from the page cache before each get' || echo 'left in the page cache')"
echo "machine:   $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo

for round in $(seq 1 "$rounds"); do
    dir=$work/r$round
    mkdir -p "$dir/in" "$dir/rclone-out"
    input=$dir/in/payload.bin
    # Fresh content every round (see the header: no dedup, no skip).
    head -c "$size" /dev/urandom >"$input"

    run put-shardgate "$bin" put "$input" --quiet
    blob=$(tail -n1 "$work/out.log")
    [[ $blob =~ ^[0-9a-f]{64}$ ]] || { cat "$work/out.log" >&2; die "shardgate put printed no blob id"; }
    run put-rclone rclone --config "$conf" copy "$input" "crypt:r$round"
    run get-shardgate "$bin" get "$blob" -o "$dir/shardgate.out"
    if $cold_stores; then
        # count=0 with iflag=nocache drops the whole file's cached pages.
        find "$stores/rclone-store" -type f -exec dd if={} iflag=nocache count=0 status=none \;
    fi
    run get-rclone rclone --config "$conf" copy "crypt:r$round/payload.bin" "$dir/rclone-out"
    # What `shardgate get` does before it returns, done to rclone's output
    # (GNU sync FILE: fsync): get-rclone plus this is rclone made durable.
    run_unsynced fsync-rclone sync "$dir/rclone-out/payload.bin"

    if [[ $round -eq 1 ]]; then
        cmp "$input" "$dir/shardgate.out" || die "shardgate get returned different bytes"
        cmp "$input" "$dir/rclone-out/payload.bin" || die "rclone returned different bytes"
        echo "round 1: both downloads byte-identical to the input (cmp)"
    fi
    awk -v r="$round" -v size="$size" 'NR > (r - 1) * 5 {
        if ($1 ~ /^fsync/) printf "round %d  %-14s %8.3f s\n", r, $1, $2 / 1e9
        else printf "round %d  %-14s %8.3f s  %8.1f MB/s\n", r, $1, $2 / 1e9, size / ($2 / 1e9) / 1e6 }' "$results"
    # Keep the disk bounded over many rounds.
    "$bin" rm "$blob" >/dev/null 2>&1 || true
    rc purge "crypt:r$round" >/dev/null 2>&1 || true
    rm -rf "$dir"
done

echo
awk -v size="$size" -v hz="$ticks_per_s" '
    { n[$1]++; t[$1, n[$1]] = $2 / 1e9; if ($3 > rss[$1]) rss[$1] = $3; cpu[$1] += $4 / hz; ccpu[$1] += $5 + $6 }
    function median(op,   i, j, k, tmp, c) {
        c = n[op]
        for (i = 1; i <= c; i++) tmp[i] = t[op, i]
        for (i = 2; i <= c; i++) { k = tmp[i]; for (j = i - 1; j >= 1 && tmp[j] > k; j--) tmp[j + 1] = tmp[j]; tmp[j + 1] = k }
        return c % 2 ? tmp[(c + 1) / 2] : (tmp[c / 2] + tmp[c / 2 + 1]) / 2
    }
    END {
        # rclone made durable: its get and the fsync after it, per round.
        d = "get-rclone+fsync"
        for (i = 1; i <= n["get-rclone"]; i++) t[d, i] = t["get-rclone", i] + t["fsync-rclone", i]
        n[d] = n["get-rclone"]
        printf "%-16s %9s %8s %15s %15s %15s\n", "operation", "median s", "MB/s", "client RSS MiB", "client CPU-s/GiB", "broker CPU-s/GiB"
        split("put-shardgate put-rclone get-shardgate get-rclone get-rclone+fsync", ops, " ")
        for (i = 1; i <= 5; i++) {
            op = ops[i]; m = median(op); mbs[op] = size / m / 1e6
            broker = op ~ /shardgate/ ? sprintf("%.2f", cpu[op] / n[op] / (size / 2^30)) : "-"
            if (op == d) client = sprintf("%15s %15s", "-", "-")
            else client = sprintf("%15.1f %15.2f", rss[op] / 1024, ccpu[op] / n[op] / (size / 2^30))
            printf "%-16s %9.3f %8.1f %s %15s\n", op, m, mbs[op], client, broker
        }
        printf "\nshardgate / rclone throughput: put %.2fx, get %.2fx (median of %d rounds)\n",
            mbs["put-shardgate"] / mbs["put-rclone"], mbs["get-shardgate"] / mbs["get-rclone"], n["put-shardgate"]
        printf "get against rclone with its output synced as shardgate syncs its own: %.2fx\n",
            mbs["get-shardgate"] / mbs[d]
    }' "$results"

# --- what the output's disk itself can do --------------------------------
# A durable get must write and sync SIZE bytes of output; with the stores
# on the same disk it must also read SIZE bytes of shards at the same
# time. dd with O_DIRECT, 4 MiB blocks (the SDK writes 4 MiB blocks, the
# output's blocks reserved first as the SDK reserves them), shows the
# disk's own time for each, the floor under any client that does that work.
blocks=$(( (size + (4 << 20) - 1) >> 22 ))
dd_secs() { # dd ARGS...: wall seconds, or "-" when dd fails (no O_DIRECT)
    local t0 t1
    t0=$(date +%s%N)
    dd "$@" bs=4M count="$blocks" status=none 2>/dev/null || { echo -; return; }
    t1=$(date +%s%N)
    awk -v ns=$(( t1 - t0 )) 'BEGIN { printf "%.3f", ns / 1e9 }'
}
floor_in=$work/floor-in floor_out=$work/floor-out
head -c "$size" /dev/urandom >"$floor_in" && sync
fallocate -l "$size" "$floor_out" 2>/dev/null || true
write_alone=$(dd_secs if=/dev/zero of="$floor_out" oflag=direct conv=notrunc,fdatasync)
read_alone=$(dd_secs if="$floor_in" of=/dev/null iflag=direct)
rm -f "$floor_out"; fallocate -l "$size" "$floor_out" 2>/dev/null || true; sync
both_start=$(date +%s%N)
dd if="$floor_in" of=/dev/null iflag=direct bs=4M count="$blocks" status=none 2>/dev/null &
reader=$!
dd if=/dev/zero of="$floor_out" oflag=direct conv=notrunc,fdatasync bs=4M count="$blocks" status=none 2>/dev/null \
    && wait "$reader" && both=$(awk -v ns=$(( $(date +%s%N) - both_start )) 'BEGIN { printf "%.3f", ns / 1e9 }') \
    || { wait "$reader" 2>/dev/null || true; both=-; }
rm -f "$floor_in" "$floor_out"
echo
echo "the output's disk (dd, O_DIRECT, 4 MiB blocks): write and fdatasync $size bytes ${write_alone} s;"
echo "  read $size bytes ${read_alone} s; both at once ${both} s (a durable get's floor when the stores share this disk)"
