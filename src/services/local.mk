# src/services: see Makefile.am
