# integration tests: see Makefile.am
