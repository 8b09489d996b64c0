# src/storage: see Makefile.am
