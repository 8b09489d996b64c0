# src/net: libuv glue (listener, associations, shutdown).
noinst_LIBRARIES += src/net/libnet.a
src_net_libnet_a_SOURCES = src/net/server.c src/net/server.h src/net/assoc.c src/net/assoc.h \
	src/net/scu.c src/net/scu.h src/net/transport.c src/net/transport.h \
	src/net/tls.c src/net/tls.h
src_net_libnet_a_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(INIH_CFLAGS) $(SQLITE_CFLAGS) $(OPENSSL_CFLAGS)
