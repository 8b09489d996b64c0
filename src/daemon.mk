# The daemon itself: glue (net/, services/) over the pure layers.
bin_PROGRAMS += src/dicomaid
src_dicomaid_SOURCES = src/main.c
src_dicomaid_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(SQLITE_CFLAGS) $(INIH_CFLAGS)
DAEMON_LIBS = src/ctl/libctl.a src/pipeline/libpipeline.a src/net/libnet.a src/services/libservices.a \
	src/net/libnet.a src/query/libquery.a src/analysis/libanalysis.a src/nn/libnn.a \
	src/storage/libstorage.a src/dimse/libdimse.a src/ul/libul.a src/dicom/libdicom.a \
	src/util/libutil.a
src_dicomaid_LDADD = $(DAEMON_LIBS) $(REPORT_LIBS) $(UV_LIBS) $(SQLITE_LIBS) $(INIH_LIBS) \
	$(ZLIB_LIBS) $(ISAL_LIBS) $(PROTOBUFC_LIBS) $(OPENBLAS_LIBS) $(SYSTEMD_LIBS) $(OPENSSL_LIBS) -lm \
	$(PTHREAD_LIBS)
