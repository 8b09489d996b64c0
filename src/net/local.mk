# src/net: libuv glue (listener, associations, shutdown).
noinst_LIBRARIES += src/net/libnet.a
src_net_libnet_a_SOURCES = src/net/server.c src/net/server.h src/net/assoc.c src/net/assoc.h \
	src/net/scu.c src/net/scu.h src/net/transport.c src/net/transport.h \
	src/net/tls.c src/net/tls.h
src_net_libnet_a_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(INIH_CFLAGS) $(SQLITE_CFLAGS) $(OPENSSL_CFLAGS)

# TLS: the OpenSSL wrapper between two in-memory ends, and the daemon against dcmtk's
# echoscu/storescu/storescp +tls with certificates made by the test.
check_PROGRAMS += tests/net/tls_test
TESTS += tests/net/tls_test tests/net/tls.sh tests/net/tls_deliver.sh
tests_net_tls_test_SOURCES = tests/net/tls_test.c
tests_net_tls_test_CFLAGS = $(TEST_CFLAGS) $(OPENSSL_CFLAGS)
tests_net_tls_test_LDADD = src/net/libnet.a $(OPENSSL_LIBS) $(TEST_LIBS)
EXTRA_DIST += tests/net/tls.sh tests/net/tls_deliver.sh tests/net/tls_lib.sh
