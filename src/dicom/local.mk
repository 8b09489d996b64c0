# src/dicom: see Makefile.am
