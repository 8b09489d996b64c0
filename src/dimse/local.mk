# src/dimse: see Makefile.am
