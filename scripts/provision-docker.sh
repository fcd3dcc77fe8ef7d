#!/usr/bin/env bash
# Make a Docker engine and a base image available for the container test, on a bare
# Debian machine as root; undo only what it started.
#
#   scripts/provision-docker.sh start    # install what is missing, start dockerd if no
#                                        # engine answers, make the base image exist;
#                                        # prints BASE_IMAGE=<image> last
#   scripts/provision-docker.sh stop     # stop the dockerd this script started (by PID)
#   scripts/provision-docker.sh status
#
# Idempotent: a second "start" finds the packages, the engine and the image and does
# nothing. On a host where `docker info` already works, nothing is installed or started.
# The base image is python:3.11-slim when it is present or can be pulled; otherwise one
# is built from Debian's packages with debootstrap (no image registry needed) and tagged
# localhost/pybase:bookworm. Both give Python 3.11, which the wheelhouse targets.
#
# State (what was started, which base) lives in $NNFUNC_PROVISION_DIR
# (default /tmp/nnfunc-provision).
set -euo pipefail

STATE=${NNFUNC_PROVISION_DIR:-/tmp/nnfunc-provision}
DEFAULT_BASE=python:3.11-slim
LOCAL_BASE=localhost/pybase:bookworm
SUITE=bookworm

log() { printf 'provision-docker: %s\n' "$*" >&2; }

engine_up() { docker info >/dev/null 2>&1; }

install_packages() {
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v containerd >/dev/null 2>&1 || missing+=(containerd)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    if ! command -v docker-compose >/dev/null 2>&1 && ! docker compose version >/dev/null 2>&1; then
        missing+=(docker-compose)
    fi
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        log "missing ${missing[*]}; install them (needs root and apt-get)"
        return 1
    fi
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

start_engine() {
    engine_up && return 0
    if [ "$(id -u)" != 0 ]; then
        log "no Docker engine answers and starting one needs root"
        return 1
    fi
    mkdir -p "$STATE"
    log "starting dockerd (log: $STATE/dockerd.log)"
    nohup /usr/sbin/dockerd --host unix:///var/run/docker.sock >"$STATE/dockerd.log" 2>&1 &
    echo $! >"$STATE/dockerd.pid"
    for _ in $(seq 1 150); do
        engine_up && return 0
        kill -0 "$(cat "$STATE/dockerd.pid")" 2>/dev/null || break
        sleep 0.2
    done
    log "dockerd did not come up; the end of its log:"
    tail -n 20 "$STATE/dockerd.log" >&2 || true
    return 1
}

debian_mirror() {
    local m=""
    if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
        m=$(awk '/^URIs:/ && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list.d/*.sources)
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk '$1 == "deb" && $2 ~ /\/debian\/?$/ {print $2; exit}' /etc/apt/sources.list)
    fi
    echo "${m:-http://deb.debian.org/debian}"
}

build_local_base() {
    local root mirror
    mirror=$(debian_mirror)
    root=$(mktemp -d)
    log "building $LOCAL_BASE with debootstrap from $mirror (about a minute)"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
        "$SUITE" "$root" "$mirror" >"$STATE/debootstrap.log" 2>&1 || {
        tail -n 20 "$STATE/debootstrap.log" >&2
        rm -rf "$root"
        return 1
    }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
        "$root"/usr/share/locale/*
    tar --numeric-owner -C "$root" -c . | docker import \
        -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' - "$LOCAL_BASE" >/dev/null
    rm -rf "$root"
}

ensure_base() {
    local base
    if docker image inspect "$DEFAULT_BASE" >/dev/null 2>&1; then
        base=$DEFAULT_BASE
    elif docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
        base=$LOCAL_BASE
    elif timeout 60 docker pull -q "$DEFAULT_BASE" >/dev/null 2>&1; then
        base=$DEFAULT_BASE
    else
        log "$DEFAULT_BASE cannot be pulled"
        build_local_base
        base=$LOCAL_BASE
    fi
    echo "$base" >"$STATE/base-image"
    echo "BASE_IMAGE=$base"
}

stop_engine() {
    local pid
    if [ ! -f "$STATE/dockerd.pid" ]; then
        log "no dockerd started by this script"
        return 0
    fi
    pid=$(cat "$STATE/dockerd.pid")
    if kill -0 "$pid" 2>/dev/null; then
        log "stopping dockerd (pid $pid)"
        kill -TERM "$pid"
        for _ in $(seq 1 150); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.2
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
    fi
    rm -f "$STATE/dockerd.pid"
}

case "${1:-start}" in
start)
    mkdir -p "$STATE"
    install_packages
    start_engine
    ensure_base
    ;;
stop)
    stop_engine
    ;;
status)
    if engine_up; then echo "engine: up"; else echo "engine: down"; fi
    if [ -f "$STATE/dockerd.pid" ]; then echo "dockerd started here: pid $(cat "$STATE/dockerd.pid")"; fi
    if [ -f "$STATE/base-image" ]; then echo "BASE_IMAGE=$(cat "$STATE/base-image")"; fi
    ;;
*)
    echo "usage: $0 [start|stop|status]" >&2
    exit 2
    ;;
esac
