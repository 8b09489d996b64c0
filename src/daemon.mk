# The daemon itself: glue (net/, services/) over the pure layers.
bin_PROGRAMS += src/dicomaid
src_dicomaid_SOURCES = src/main.c
src_dicomaid_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(SQLITE_CFLAGS) $(INIH_CFLAGS)
src_dicomaid_LDADD = $(DAEMON_LIBS) src/util/libutil.a $(UV_LIBS) $(SQLITE_LIBS) $(INIH_LIBS) $(ZLIB_LIBS) $(PTHREAD_LIBS)
