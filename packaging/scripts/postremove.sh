#!/bin/sh
# arbiter's package: after removal. .deb postrm: "remove", "purge", "upgrade", …; .rpm
# %postun: 0 after erase, 1 after upgrade.
#
# A .deb remove keeps /var/lib/arbiter (jobs, runs, the secrets key), the arbiter user and
# /etc/arbiter; purge deletes them. rpm has no purge: an erase keeps the data and the user, as
# Fedora's packaging guidelines ask (a uid must not be reused for files it still owns); delete
# them by hand with `rm -rf /var/lib/arbiter && userdel arbiter` if you mean to.
set -e

if [ -d /run/systemd/system ]; then
  systemctl daemon-reload || true
fi

if [ "$1" = purge ]; then
  # Undo the enablement the unit's [Install] section made.
  if command -v deb-systemd-helper >/dev/null 2>&1; then
    deb-systemd-helper purge arbiter.service >/dev/null || true
  fi
  rm -f /etc/systemd/system/multi-user.target.wants/arbiter.service
  rm -rf /var/lib/arbiter /run/arbiter
  rmdir --ignore-fail-on-non-empty /etc/arbiter/jobs /etc/arbiter 2>/dev/null || true
  if getent passwd arbiter >/dev/null; then
    userdel arbiter || echo "arbiter: could not delete user arbiter (does a process still run as it?)" >&2
  fi
  if getent group arbiter >/dev/null; then
    groupdel arbiter || echo "arbiter: could not delete group arbiter" >&2
  fi
fi
exit 0
