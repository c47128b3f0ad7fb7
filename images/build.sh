#!/usr/bin/env bash
# Build and smoke-test Molting's two images with buildah, with no Docker engine and no registry.
# `make images`, `make images-operator`, `make images-workloads` and tests/chart/test_images.py all
# come here.
#
#   images/build.sh tools                   install buildah and mmdebstrap (apt-get) if missing
#   images/build.sh base                    the Debian bookworm base image, made with mmdebstrap
#   images/build.sh operator [workloads]    build each image on that base, then smoke-test it
#   images/build.sh smoke operator|workloads   smoke-test an image built earlier
#
# The Dockerfiles keep their public bases (python:3.11.14-slim-bookworm, nvidia/cuda, uv's image);
# this script only swaps them through their build arguments. Bookworm's python3 is 3.11 (3.11.2).
# The base's root filesystem is cached in .images/ (gitignored) under a key made of everything
# mmdebstrap is given; delete .images/ to take newer Debian packages. Runs as root: mmdebstrap's
# root mode and buildah's rootful storage (/var/lib/containers).
#
# Environment: TAG (default: pyproject's version), HOST_CA (a CA bundle the build steps trust, bind
# mounted over the image's own bundle for RUN steps only; default: the host's
# /etc/ssl/certs/ca-certificates.crt when there is one; empty: none), PYTHON (a host Python with
# pip, to fetch uv's wheel from PyPI; default: python3).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE=$ROOT/.images
TAG=${TAG:-$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml")}
if [ -z "${HOST_CA+set}" ] && [ -s /etc/ssl/certs/ca-certificates.crt ]; then
  HOST_CA=/etc/ssl/certs/ca-certificates.crt
fi
HOST_CA=${HOST_CA-}
PYTHON=${PYTHON:-python3}
UV_VERSION=0.9.5      # the release workloads/Dockerfile's UV_IMAGE names
UID_EXPECTED=10001
SUITE=bookworm
# What the Dockerfiles need from a python:3.11-slim-bookworm base: `python`, venv, useradd, CA roots.
BASE_PACKAGES=python3,python3-venv,python-is-python3,passwd,ca-certificates
BASE_OPTIONS=(
  --format=tar --variant=minbase --include="$BASE_PACKAGES"
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/locale/*'
)

say() { printf '[images] %s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }
# Working containers this run made, removed however it ends.
CONTAINERS=()
cleanup() { [ ${#CONTAINERS[@]} -eq 0 ] || buildah rm "${CONTAINERS[@]}" >/dev/null 2>&1 || true; }
trap cleanup EXIT

cmd_tools() {
  local missing=()
  command -v buildah >/dev/null || missing+=(buildah)
  command -v mmdebstrap >/dev/null || missing+=(mmdebstrap)
  if [ ${#missing[@]} -eq 0 ]; then
    say "tools: $(buildah --version), mmdebstrap $(mmdebstrap --version | awk '{print $2}')"
    return
  fi
  [ "$(id -u)" = 0 ] || die "missing ${missing[*]}: apt-get install -y ${missing[*]} (as root)"
  say "tools: installing ${missing[*]} with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

base_key() {
  printf '%s\n' "$SUITE" "$(dpkg --print-architecture)" "$(mmdebstrap --version)" "${BASE_OPTIONS[@]}" |
    sha256sum | cut -c1-12
}

# Prints the base image's name, building the tarball and importing it when they are not there yet.
cmd_base() {
  cmd_tools
  local key tar image
  key=$(base_key)
  tar=$CACHE/base-$SUITE-$key.tar
  image=localhost/molting-base:$SUITE-$key
  mkdir -p "$CACHE"
  if [ ! -s "$tar" ]; then
    say "base: mmdebstrap $SUITE -> $tar"
    local start=$SECONDS
    mmdebstrap --quiet "${BASE_OPTIONS[@]}" "$SUITE" "$tar.part"
    mv "$tar.part" "$tar"
    say "base: built in $((SECONDS - start)) s, $(du -m "$tar" | cut -f1) MB"
  fi
  if ! buildah inspect --type image "$image" >/dev/null 2>&1; then
    say "base: importing $image"
    local ctr
    ctr=$(buildah from scratch)
    buildah add --quiet "$ctr" "$tar" / >/dev/null
    buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
      --cmd /bin/bash "$ctr"
    buildah commit --quiet --rm "$ctr" "$image" >/dev/null
  fi
  echo "$image"
}

# A stand-in for ghcr.io/astral-sh/uv:$UV_VERSION (all the Dockerfile takes from it is /uv): the
# same uv release's binary, from its PyPI wheel.
uv_image() {
  local image=localhost/molting-uv:$UV_VERSION
  if ! buildah inspect --type image "$image" >/dev/null 2>&1; then
    local dir=$CACHE/uv-$UV_VERSION ctr
    rm -rf "$dir" && mkdir -p "$dir"
    say "uv: uv==$UV_VERSION from PyPI"
    "$PYTHON" -m pip download --quiet --no-deps --only-binary :all: --dest "$dir" "uv==$UV_VERSION"
    (cd "$dir" && "$PYTHON" -m zipfile -e uv-"$UV_VERSION"-*.whl wheel)
    chmod 0755 "$dir/wheel/uv-$UV_VERSION.data/scripts/uv"
    ctr=$(buildah from scratch)
    buildah add --quiet "$ctr" "$dir/wheel/uv-$UV_VERSION.data/scripts/uv" /uv >/dev/null
    buildah commit --quiet --rm "$ctr" "$image" >/dev/null
  fi
  echo "$image"
}

build() {
  local name=$1 base=$2 args=() uv=
  case $name in
    operator) args=(--build-arg "PYTHON_IMAGE=$base") ;;
    workloads)
      uv=$(uv_image)
      args=(--build-arg "CUDA_IMAGE=$base" --build-arg "UV_IMAGE=$uv"
            --build-arg PYTHON=/usr/bin/python3.11) ;;
  esac
  if [ -n "$HOST_CA" ]; then
    [ -s "$HOST_CA" ] || die "HOST_CA=$HOST_CA: no such file"
    # RUN steps see the host's CA bundle (pip, apt and uv reach their indexes through whatever the
    # host trusts); bind mounts are not committed, so the image keeps Debian's own bundle.
    args+=(--volume "$HOST_CA:/etc/ssl/certs/ca-certificates.crt:ro")
    [ "$name" = workloads ] && args+=(--build-arg UV_NATIVE_TLS=1)
  fi
  say "$name: buildah bud -f $name/Dockerfile -> localhost/molting-$name:$TAG"
  local start=$SECONDS
  buildah bud --isolation chroot --layers --pull=never "${args[@]}" \
    -f "$ROOT/$name/Dockerfile" -t "localhost/molting-$name:$TAG" "$ROOT"
  say "$name: built in $((SECONDS - start)) s"
  if [ -n "$uv" ]; then
    # buildah 1.28 leaves the working container of a stage that only a RUN --mount reads.
    buildah containers --quiet --filter "ancestor=$uv" | xargs --no-run-if-empty buildah rm >/dev/null
  fi
}

smoke() {
  local name=$1 image=localhost/molting-$1:$TAG ctr user torch start=$SECONDS
  buildah inspect --type image "$image" >/dev/null 2>&1 || die "$image: not built"
  user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$image")
  [ "$user" = "$UID_EXPECTED:$UID_EXPECTED" ] || die "$image: configured user is '$user'"
  ctr=$(buildah from --pull=never "$image")
  CONTAINERS+=("$ctr")
  inside() { buildah run --isolation chroot "$ctr" -- "$@"; }
  [ "$(inside id -u)" = "$UID_EXPECTED" ] || die "$image: id -u is not $UID_EXPECTED"
  say "smoke $name: user $user, id -u $UID_EXPECTED"
  inside molting --help >/dev/null
  say "smoke $name: molting --help"
  inside molting operator --help >/dev/null
  say "smoke $name: molting operator --help"
  case $name in
    operator)
      inside python -c "import importlib.util as u, sys; sys.exit(u.find_spec('torch') is not None)" ||
        die "$image: torch is installed"
      say "smoke $name: no torch" ;;
    workloads)
      inside python -c "import molting_workloads.serving.app as app; assert callable(app.build_app)"
      say "smoke $name: import molting_workloads.serving.app"
      inside test -x /usr/bin/tini
      inside ray --version >/dev/null
      say "smoke $name: tini, ray"
      torch=$(inside python -c "import torch; print(torch.__version__, 'CUDA', torch.version.cuda)")
      say "smoke $name: torch $torch" ;;
  esac
  say "smoke $name: passed in $((SECONDS - start)) s; size $(buildah images --noheading --format '{{.Size}}' "$image")"
}

main() {
  [ $# -gt 0 ] || die "usage: $0 tools | base | operator [workloads] | smoke NAME..."
  case $1 in
    tools) cmd_tools ;;
    base) cmd_base ;;
    smoke) shift; for name in "$@"; do smoke "$name"; done ;;
    *)
      local base name
      for name in "$@"; do
        case $name in operator|workloads) ;; *) die "no image '$name' (operator, workloads)";; esac
      done
      base=$(cmd_base)
      for name in "$@"; do
        build "$name" "$base"
        smoke "$name"
      done ;;
  esac
}

main "$@"
