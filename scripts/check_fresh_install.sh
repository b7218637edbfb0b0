#!/usr/bin/env bash
# Proves the README's two set-up commands on a truly clean Debian 12: makes a minimal bookworm root
# (mmdebstrap --variant=apt, from the host's own apt mirror), puts a clean clone of the current commit
# at /root/yolonas inside it, and runs `bash scripts/demo.sh` then `bash scripts/test.sh` there with
# chroot, as root. Needs root on a Debian 12 host; takes 15-30 min on 2 cores. `--suite trixie` does
# the same in a Debian 13 root (oneDNN 3, LibTorch 2.6, GCC 14). See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: sudo bash scripts/check_fresh_install.sh [--keep] [--with-shared] [--workdir DIR] [--suite NAME]

Runs the README "Quick start" (bash scripts/demo.sh, then bash scripts/test.sh) in a minimal
Debian 12 root made with mmdebstrap (debootstrap as a fallback; installed if missing) from the
host's apt sources, on a clean clone of HEAD (uncommitted changes are not tested).

  --keep          keep the work folder (root, logs) afterwards; default: remove it
                  (on failure the logs are kept, the root removed)
  --with-shared   copy ../shared beside the clone, as CI has it; default: no ../shared
                  (as for a new user: the tests that need it skip)
  --workdir DIR   work folder, must not exist yet; default: a new /tmp/yolonas-fresh-XXXX
  --suite NAME    the Debian release of the root: bookworm (12, the default: the host's apt sources)
                  or trixie (13: the host's Debian mirror with trixie, trixie-updates and
                  trixie-security)
  -h, --help      this text

Logs: WORK/mmdebstrap.log, WORK/cmd1-demo.log, WORK/cmd2-test.log. Exit status 0 = PASS.
EOF
}

KEEP=0; WITH_SHARED=0; WORK=""; SUITE=bookworm
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1 ;;
    --with-shared) WITH_SHARED=1 ;;
    --workdir) WORK="${2:?--workdir needs a folder}"; shift ;;
    --suite) SUITE="${2:?--suite needs a Debian release name}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || { echo "run as root (chroot and mounts need it)" >&2; exit 2; }
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || echo "warning: host is ${PRETTY_NAME:-unknown}, not Debian 12" >&2
case "$SUITE" in
  bookworm) RELEASE="Debian 12" ;;
  trixie) RELEASE="Debian 13" ;;
  *) echo "--suite $SUITE: expected bookworm or trixie" >&2; exit 2 ;;
esac

REPO=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
COMMIT=$(git -C "$REPO" rev-parse HEAD)
if [ -n "$(git -C "$REPO" status --porcelain)" ]; then
  echo "note: uncommitted changes in $REPO are not part of this check (it tests $COMMIT)"
fi
if [ -z "$WORK" ]; then WORK=$(mktemp -d /tmp/yolonas-fresh-XXXX)
elif [ -e "$WORK" ]; then echo "--workdir $WORK already exists" >&2; exit 2
else mkdir -p "$WORK"; fi
WORK=$(cd "$WORK" && pwd -P)
ROOT="$WORK/root"

fmt() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }
mounted_under() { findmnt -rn -o TARGET | awk -v w="$WORK" '$0 == w || index($0, w "/") == 1'; }
kill_in_root() {  # processes still running inside the root (their / is ROOT): TERM, TERM, KILL
  local sig p pids
  for sig in TERM TERM KILL; do
    pids=()
    for p in /proc/[0-9]*; do [ "$(readlink "$p/root" 2>/dev/null)" = "$ROOT" ] && pids+=("${p#/proc/}"); done
    [ ${#pids[@]} -gt 0 ] || return 0
    kill -s "$sig" "${pids[@]}" 2>/dev/null || true; sleep 2
  done
}
MOUNTS=()
unmount_all() {  # reverse order; recursive; lazy as the fallback; then anything else still under WORK
  local i m
  for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
    umount -R "${MOUNTS[i]}" 2>/dev/null || umount -R -l "${MOUNTS[i]}" 2>/dev/null || true
  done
  MOUNTS=()
  for m in $(mounted_under | sort -r); do umount "$m" 2>/dev/null || umount -l "$m" || true; done
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  kill_in_root
  unmount_all
  if [ -n "$(mounted_under)" ]; then  # never rm -rf a root with the host's /dev, /proc or /sys in it
    echo "ERROR: still mounted under $WORK, NOT removing it:" >&2; mounted_under >&2; rc=1
  elif [ "$KEEP" = 1 ]; then echo "kept: $WORK"
  elif [ "$rc" -ne 0 ]; then rm -rf --one-file-system "$ROOT"; echo "logs kept: $WORK/*.log"
  else rm -rf --one-file-system "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "interrupted" >&2; exit 130' INT
trap 'exit 143' TERM

# --- the tool ---
if ! command -v mmdebstrap >/dev/null && ! command -v debootstrap >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends mmdebstrap \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
fi

# --- the host's Debian apt sources (third-party ones left out) and the apt options they rely on ---
SOURCES=()
for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
  [ -f "$f" ] && grep -Eq '^[^#]*(deb |URIs:).*/debian' "$f" && SOURCES+=("$f")
done
[ ${#SOURCES[@]} -gt 0 ] || { echo "no Debian apt source found in /etc/apt" >&2; exit 1; }
echo "apt sources: ${SOURCES[*]}"
# Another release than the host's: its suites from the host's Debian mirror (and security mirror).
if [ "$SUITE" != bookworm ]; then
  URLS=$(grep -hE '^[^#]*(deb |URIs:)' "${SOURCES[@]}" | grep -oE '(https?|file)://[^ ]+')
  MIRROR=$(grep -v security <<<"$URLS" | head -n 1)
  SECURITY=$(grep security <<<"$URLS" | head -n 1 || true)
  SECURITY=${SECURITY:-http://deb.debian.org/debian-security}
  SOURCES=("deb ${MIRROR%/} $SUITE main" "deb ${MIRROR%/} $SUITE-updates main" "deb ${SECURITY%/} $SUITE-security main")
  echo "$SUITE sources: ${SOURCES[*]}"
fi
mapfile -t APTOPTS < <(apt-config dump | grep -E '^Acquire::(Check-Valid-Until|Check-Date|https?::Proxy) ' || true)

# --- the minimal root ---
echo "making a minimal $RELEASE root in $ROOT (log: $WORK/mmdebstrap.log)"
t0=$SECONDS
if command -v mmdebstrap >/dev/null; then
  TOOL=mmdebstrap
  mmdebstrap --mode=root --variant=apt "${APTOPTS[@]/#/--aptopt=}" "$SUITE" "$ROOT" "${SOURCES[@]}" \
    >"$WORK/mmdebstrap.log" 2>&1 || { tail -n 30 "$WORK/mmdebstrap.log"; exit 1; }
else
  TOOL=debootstrap
  [ "$SUITE" = bookworm ] || { echo "--suite $SUITE needs mmdebstrap" >&2; exit 1; }
  MIRROR=$(grep -hoE '(https?|file)://[^ ]+' "${SOURCES[@]}" | grep -v security | head -n 1)
  debootstrap --variant=minbase bookworm "$ROOT" "$MIRROR" >"$WORK/mmdebstrap.log" 2>&1 \
    || { tail -n 30 "$WORK/mmdebstrap.log"; exit 1; }
  rm -f "$ROOT/etc/apt/sources.list"
  for f in "${SOURCES[@]}"; do cp "$f" "$ROOT/etc/apt/sources.list.d/"; done
  printf '%s\n' "${APTOPTS[@]}" >"$ROOT/etc/apt/apt.conf.d/99fresh-check"
fi
T_ROOT=$((SECONDS - t0))
echo "  $TOOL: $(fmt $T_ROOT)"
# DNS only if a mirror is named by host name (mmdebstrap copies resolv.conf by default).
if { [ "$SUITE" != bookworm ] && printf '%s\n' "${SOURCES[@]}" || cat "${SOURCES[@]}"; } | grep -oE '(https?|ftp)://[^/ ]+' | grep -qvE '://(\[|[0-9.]+(:[0-9]+)?$)'; then
  cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
else
  rm -f "$ROOT/etc/resolv.conf"
fi

# The host's network trust, not packages: CAs that an egress proxy between this machine and the
# internet needs (/usr/local/share/ca-certificates: the root's ca-certificates package picks them up
# when setup.sh installs it) and npm's CA file setting. A machine on an open network needs neither.
if ls /usr/local/share/ca-certificates/*.crt >/dev/null 2>&1; then
  mkdir -p "$ROOT/usr/local/share/ca-certificates"
  cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/"
  if [ -f /etc/npmrc ] && grep -q '^cafile=' /etc/npmrc; then grep '^cafile=' /etc/npmrc >"$ROOT/etc/npmrc"; fi
  echo "network: the host's extra CA certificates copied into the root"
fi

# --- a clean clone of the current commit ---
git clone -q --no-checkout "$REPO" "$ROOT/root/yolonas"
git -C "$ROOT/root/yolonas" fetch -q origin HEAD  # also when HEAD is detached
git -C "$ROOT/root/yolonas" -c advice.detachedHead=false checkout -q --detach "$COMMIT"
echo "clone: /root/yolonas at $(git -C "$ROOT/root/yolonas" log -1 --format='%h %s' | cut -c1-70)"
if [ "$WITH_SHARED" = 1 ]; then
  [ -d "$REPO/../shared" ] || { echo "--with-shared: $REPO/../shared not found" >&2; exit 1; }
  cp -a "$REPO/../shared" "$ROOT/root/shared"
  echo "shared: copied $(cd "$REPO/../shared" && pwd) to /root/shared"
fi

# --- /proc, /sys, /dev (slave, so no unmount here can reach the host's /dev) ---
mount -t proc proc "$ROOT/proc"; MOUNTS+=("$ROOT/proc")
mount --bind /sys "$ROOT/sys"; MOUNTS+=("$ROOT/sys")
mount --rbind /dev "$ROOT/dev"; MOUNTS+=("$ROOT/dev")
mount --make-rslave "$ROOT/dev"

# --- the README's two commands ---
T1="-"; T2="-"; CTEST="-"; RESULT=PASS
run_in_root() {  # NAME LOG COMMAND: runs COMMAND in /root/yolonas inside the root; sets T_LAST
  local name=$1 log=$2 cmd=$3 t=$SECONDS rc=0
  echo "running: $cmd   (log: $log)"
  chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    bash -c "cd /root/yolonas && $cmd" >"$log" 2>&1 &
  wait $! || rc=$?  # in the background, so that Ctrl-C runs the trap at once, not after the command
  T_LAST=$((SECONDS - t))
  echo "  $name: $(fmt $T_LAST), exit status $rc"
  if [ "$rc" -ne 0 ]; then
    echo "  first error:"
    { grep -m1 -E -A3 'error:|Error:|CMake Error|: Failure$|FAILED|^E: |Errors while running' "$log" \
      || tail -n 30 "$log"; } | sed 's/^/    | /'
  fi
  return "$rc"
}
summary() {
  echo
  echo "== fresh-install check of ${COMMIT:0:7} on $RELEASE =="
  echo "  $TOOL (minimal root): $(fmt $T_ROOT)"
  echo "  command 1 (bash scripts/demo.sh): $T1"
  echo "  command 2 (bash scripts/test.sh): $T2"
  echo "  ctest: $CTEST"
  echo "  result: $RESULT"
}
if run_in_root "command 1" "$WORK/cmd1-demo.log" "bash scripts/demo.sh"; then
  T1=$(fmt $T_LAST)
  if run_in_root "command 2" "$WORK/cmd2-test.log" "bash scripts/test.sh"; then T2=$(fmt $T_LAST)
  else T2="$(fmt $T_LAST) FAILED"; RESULT=FAIL; fi
  CTEST=$(grep -E '[0-9]+% tests passed' "$WORK/cmd2-test.log" | tail -n 1 || echo "no ctest summary")
  SKIPPED=$(grep -E '^\s+[0-9]+ - .*\(Skipped\)' "$WORK/cmd2-test.log" | sed -E 's/^\s+[0-9]+ - //; s/ \(Skipped\)//' | tr '\n' ' ' || true)
  [ -n "$SKIPPED" ] && CTEST="$CTEST; skipped: $SKIPPED"
else
  T1="$(fmt $T_LAST) FAILED"; T2="not run"; RESULT=FAIL
fi
unmount_all
summary
[ "$RESULT" = PASS ]
