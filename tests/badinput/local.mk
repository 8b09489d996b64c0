# Bad-input tests: the real daemon against a raw-socket peer (rawpeer) and dcmtk tools.
check_PROGRAMS += tests/badinput/rawpeer
tests_badinput_rawpeer_SOURCES = tests/badinput/rawpeer.c
tests_badinput_rawpeer_LDADD = src/dimse/libdimse.a src/ul/libul.a
BADINPUT_TESTS = tests/badinput/pdu.sh tests/badinput/assoc.sh tests/badinput/store.sh \
	tests/badinput/diskfull.sh
TESTS += $(BADINPUT_TESTS)
EXTRA_DIST += tests/badinput/lib.sh $(BADINPUT_TESTS)
