# src/ctl: operations. The daemon's control socket, systemd notifications and socket
# activation (libctl.a, linked into src/dicomaid), and the dicomaidctl client.
noinst_LIBRARIES += src/ctl/libctl.a
src_ctl_libctl_a_SOURCES = src/ctl/json.c src/ctl/json.h src/ctl/proto.c src/ctl/proto.h \
	src/ctl/ops.c src/ctl/ops.h src/ctl/sd.c src/ctl/sd.h \
	src/ctl/admin.c src/ctl/admin.h
src_ctl_libctl_a_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(INIH_CFLAGS) $(SQLITE_CFLAGS) $(SYSTEMD_CFLAGS)

bin_PROGRAMS += src/dicomaidctl
src_dicomaidctl_SOURCES = src/ctl/dicomaidctl.c
src_dicomaidctl_CFLAGS = $(AM_CFLAGS) $(SQLITE_CFLAGS) $(INIH_CFLAGS)
src_dicomaidctl_LDADD = src/ctl/libctl.a src/storage/libstorage.a src/util/libutil.a \
	$(SQLITE_LIBS) $(INIH_LIBS) $(PTHREAD_LIBS)
