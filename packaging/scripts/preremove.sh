#!/bin/sh
# arbiter's package: before removal. .deb prerm: "remove", or "upgrade" NEW_VERSION, …;
# .rpm %preun: 0 on erase, 1 on upgrade. The service is stopped on removal only: an upgrade
# restarts it from the postinstall script of the new package.
set -e

case "$1" in
  remove)
    # The enablement stays until purge (as Debian's helpers do), so a reinstall restarts it.
    if [ -d /run/systemd/system ]; then
      systemctl stop arbiter.service || true
    fi
    ;;
  0)
    if [ -d /run/systemd/system ]; then
      systemctl --no-reload disable --now arbiter.service || true
    fi
    ;;
esac
exit 0
