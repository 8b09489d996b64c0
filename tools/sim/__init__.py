"""dicomaid's brain-tumour lesion simulator (see tools/sim/__main__.py for the command line)."""
