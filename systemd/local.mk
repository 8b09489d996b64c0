# systemd units, sysusers.d entry and the installed configuration, generated at make time
# from templates with the configured paths (so `make bindir=...` and DESTDIR work).
systemdsystemunit_DATA = systemd/dicomaid.service systemd/dicomaid.socket
sysusers_DATA = systemd/sysusers.d/dicomaid.conf
EXTRA_DIST += systemd/dicomaid.service.in systemd/dicomaid.socket.in \
	systemd/dicomaid.sysusers.in
CLEANFILES += systemd/dicomaid.service systemd/dicomaid.socket \
	systemd/sysusers.d/dicomaid.conf systemd/etc/dicomaid.conf

edit_paths = sed \
	-e 's|@bindir[@]|$(bindir)|g' \
	-e 's|@sbindir[@]|$(sbindir)|g' \
	-e 's|@sysconfdir[@]|$(sysconfdir)|g' \
	-e 's|@SERVICE_STATEDIR[@]|$(SERVICE_STATEDIR)|g' \
	-e 's|@SERVICE_RUNDIR[@]|$(SERVICE_RUNDIR)|g' \
	-e 's|@pkgdatadir[@]|$(pkgdatadir)|g'

systemd/dicomaid.service: $(srcdir)/systemd/dicomaid.service.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && $(edit_paths) $(srcdir)/systemd/dicomaid.service.in > $@.tmp && mv $@.tmp $@
systemd/dicomaid.socket: $(srcdir)/systemd/dicomaid.socket.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd && $(edit_paths) $(srcdir)/systemd/dicomaid.socket.in > $@.tmp && mv $@.tmp $@
# sysusers.d wants NAME.conf.
systemd/sysusers.d/dicomaid.conf: $(srcdir)/systemd/dicomaid.sysusers.in Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd/sysusers.d && $(edit_paths) $(srcdir)/systemd/dicomaid.sysusers.in > $@.tmp && mv $@.tmp $@

# The installed configuration: etc/dicomaid.conf (every key, commented out, with its
# built-in default) with the paths of the systemd service set. These are systemd's, not
# the prefix's: StateDirectory= is always under /var/lib and RuntimeDirectory= under /run,
# and ProtectSystem=strict leaves nothing else writable.
SERVICE_STATEDIR = /var/lib/dicomaid
SERVICE_RUNDIR = /run/dicomaid
systemd/etc/dicomaid.conf: $(srcdir)/etc/dicomaid.conf Makefile
	$(AM_V_GEN)$(MKDIR_P) systemd/etc && sed \
	  -e 's|^#path = ./dicomaid-data$$|path = $(SERVICE_STATEDIR)|' \
	  -e 's|^#database = ./dicomaid-data/index.sqlite$$|database = $(SERVICE_STATEDIR)/index.sqlite|' \
	  -e 's|^#socket = ./dicomaid-data/dicomaid.sock$$|socket = $(SERVICE_RUNDIR)/dicomaid.sock|' \
	  $(srcdir)/etc/dicomaid.conf > $@.tmp && \
	test `grep -c '^\(path\|database\|socket\) = ' $@.tmp` = 3 && mv $@.tmp $@
all-local: systemd/etc/dicomaid.conf systemd/dicomaid.service systemd/dicomaid.socket \
	systemd/sysusers.d/dicomaid.conf

# An existing configuration is never overwritten; uninstall removes it only when it is
# still the one we installed.
dicomaidconfdir = $(sysconfdir)/dicomaid
install-data-local: systemd/etc/dicomaid.conf
	$(MKDIR_P) '$(DESTDIR)$(dicomaidconfdir)'
	@if test -f '$(DESTDIR)$(dicomaidconfdir)/dicomaid.conf'; then \
	  echo "keeping the existing $(DESTDIR)$(dicomaidconfdir)/dicomaid.conf"; \
	else \
	  echo " $(INSTALL_DATA) systemd/etc/dicomaid.conf '$(DESTDIR)$(dicomaidconfdir)/dicomaid.conf'"; \
	  $(INSTALL_DATA) systemd/etc/dicomaid.conf '$(DESTDIR)$(dicomaidconfdir)/dicomaid.conf'; \
	fi
uninstall-local:
	@if cmp -s systemd/etc/dicomaid.conf '$(DESTDIR)$(dicomaidconfdir)/dicomaid.conf'; then \
	  echo " rm -f '$(DESTDIR)$(dicomaidconfdir)/dicomaid.conf'"; \
	  rm -f '$(DESTDIR)$(dicomaidconfdir)/dicomaid.conf'; \
	fi

# The schema migrations, for reference (they are also built into the binaries).
sqldir = $(pkgdatadir)/sql
sql_DATA = $(STORAGE_SQL)

# `make distcheck` installs under its own prefix: keep the units there too.
AM_DISTCHECK_CONFIGURE_FLAGS = \
	--with-systemdsystemunitdir='$$(prefix)/lib/systemd/system' \
	--with-sysusersdir='$$(prefix)/lib/sysusers.d'

# The Debian packaging (dpkg-buildpackage -us -uc -b in an unpacked tarball works too).
EXTRA_DIST += debian/changelog debian/control debian/copyright debian/postinst debian/rules \
	debian/source/format

