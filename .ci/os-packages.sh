#!/usr/bin/env bash
# Debian packages the book uses beside Java: strace and perf (the storage chapters watch the
# broker's system calls), iptables and ss (the replication chapters cut a broker off from the
# others), fuse3 (LazyFS, the filesystem that forgets unsynced writes), Chromium (the browser
# test of the site, with a Korean font: fonts-nanum) and gettext (msgfmt checks the Korean
# catalogs). Installed with apt when missing and we are root; otherwise says what to install and
# carries on.
set -euo pipefail
need=()
command -v strace >/dev/null 2>&1 || need+=(strace)
command -v perf >/dev/null 2>&1 || need+=(linux-perf)
command -v iptables >/dev/null 2>&1 || need+=(iptables)
command -v ss >/dev/null 2>&1 || need+=(iproute2)
command -v fusermount3 >/dev/null 2>&1 || need+=(fuse3)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v msgfmt >/dev/null 2>&1 || need+=(gettext)
[ -n "$(fc-list :lang=ko 2>/dev/null)" ] || need+=(fonts-nanum)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing ${need[*]} with apt-get"
  # One apt at a time: `make test` runs its set-up steps side by side.
  (flock 9 && apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null \
  ) 9>/tmp/kafkalab-apt.lock
else
  echo "warning: missing ${need[*]} (Debian/Ubuntu: sudo apt-get install ${need[*]});" \
       "the storage and replication chapters and the browser test need them" >&2
fi
