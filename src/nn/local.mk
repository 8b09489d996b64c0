# src/nn: see Makefile.am
