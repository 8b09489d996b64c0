# src/util: logging, small helpers shared by every layer.
noinst_LIBRARIES += src/util/libutil.a
src_util_libutil_a_SOURCES = src/util/log.c src/util/log.h
