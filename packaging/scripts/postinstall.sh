#!/bin/sh
# arbiter's package: after install or upgrade. nfpm uses this script for the .deb (postinst:
# "configure" [OLD_VERSION]) and the .rpm (%post: 1 on install, 2 on upgrade).
set -e

first_install=no
case "$1" in
  configure) [ -z "${2:-}" ] && first_install=yes ;;
  1) first_install=yes ;;
  2) ;;
  *) exit 0 ;; # abort-upgrade, abort-remove, …: nothing to redo
esac

# The daemon's user and group. Members of group arbiter may use the CLI without sudo.
nologin=/usr/sbin/nologin
[ -x "$nologin" ] || nologin=/sbin/nologin
[ -x "$nologin" ] || nologin=/bin/false
if ! getent group arbiter >/dev/null; then
  groupadd --system arbiter
fi
if ! getent passwd arbiter >/dev/null; then
  useradd --system --gid arbiter --home-dir /var/lib/arbiter --no-create-home \
    --shell "$nologin" --comment "arbiter job scheduler" arbiter
fi

# systemd creates these (StateDirectory, RuntimeDirectory) when it starts the unit; they are
# made here too so that the daemon can be started by hand where systemd does not run.
install -d -m 0750 -o arbiter -g arbiter /var/lib/arbiter

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
  if [ "$first_install" = yes ]; then
    systemctl enable --now arbiter.service || true
  elif systemctl is-enabled --quiet arbiter.service; then
    # An upgrade, or a reinstall after `dpkg -r`: run the new binary.
    systemctl restart arbiter.service || true
  fi
fi
exit 0
