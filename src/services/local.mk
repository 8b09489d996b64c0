# src/services: DIMSE service providers (C-ECHO, C-STORE SCP).
noinst_LIBRARIES += src/services/libservices.a
src_services_libservices_a_SOURCES = src/services/dispatch.c src/services/echo.c \
	src/services/store.c src/services/qr.c src/services/services.h src/services/sop_classes.c \
	src/services/sop_classes.h src/services/sop_classes_table.h
src_services_libservices_a_CFLAGS = $(AM_CFLAGS) $(UV_CFLAGS) $(INIH_CFLAGS) $(SQLITE_CFLAGS)
