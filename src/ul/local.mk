# src/ul: see Makefile.am
