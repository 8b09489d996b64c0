# src/net: see Makefile.am
