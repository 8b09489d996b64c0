#!/usr/bin/python3
"""Writes the DICOM files for bench/qr_bench.sh (issue 6).

Usage:
  bench/qr/gen_files.py studies OUTDIR N      N studies of one small instance each (64x64 MR)
  bench/qr/gen_files.py study OUTDIR N SIZE   one study, one series, N instances of SIZExSIZE
                                              16-bit MR; prints the Study Instance UID

Every file is Part 10, Explicit VR Little Endian, MR Image Storage, MONOCHROME2, 16 bits
allocated, 12 stored. The "studies" set uses the same patient and study keys as
tests/query/gen_index (study s: PatientID PID%06d and PatientName PATIENT%d^GIVEN%d of patient
s/2, Study Instance UID 1.2.826.0.1.3680043.10.2.<s+1>, the same StudyDate/StudyTime formulas),
so the benchmark's queries match the same number of studies on a generated index and on these
files. Deterministic: the same arguments give byte-identical files.
"""

import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ROOT = "1.2.826.0.1.3680043.10.2"  # this benchmark's UIDs (gen_index uses ...10.1)
IMPL_CLASS_UID = "1.2.826.0.1.3680043.10.2.0.1"
IMPL_VERSION = "DICOMAID_QRB_1"


def make(study, series, inst, pat, sdate, stime, inst_no, pixels):
    """One MR instance as a pydicom FileDataset-ready Dataset with its file meta."""
    size = pixels.shape[0]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = inst
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = IMPL_CLASS_UID
    meta.ImplementationVersionName = IMPL_VERSION
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.SOPClassUID = MR_IMAGE_STORAGE
    ds.SOPInstanceUID = inst
    ds.StudyDate = sdate
    ds.SeriesDate = sdate
    ds.StudyTime = stime
    ds.AccessionNumber = "QRB%07d" % (study % 10000000)
    ds.Modality = "MR"
    ds.Manufacturer = "dicomaid-bench"
    ds.StudyDescription = "MR BRAIN"
    ds.SeriesDescription = "T1"
    ds.PatientName = "PATIENT%d^GIVEN%d" % (pat, pat % 97)
    ds.PatientID = "PID%06d" % pat
    ds.PatientBirthDate = "19%02d%02d%02d" % (40 + pat % 60, 1 + pat % 12, 1 + pat % 28)
    ds.PatientSex = "F" if pat % 2 else "M"
    ds.StudyInstanceUID = "%s.%d" % (ROOT, study)
    ds.SeriesInstanceUID = series
    ds.StudyID = str(study)
    ds.SeriesNumber = 1
    ds.InstanceNumber = inst_no
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = size
    ds.Columns = size
    ds.PixelSpacing = [0.9, 0.9]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def write(path, ds):
    # pydicom 2.x wants the encoding on the data set; 3.x takes it from the meta
    ds.is_little_endian = True
    ds.is_implicit_VR = False
    try:
        ds.save_as(path, enforce_file_format=True)
    except TypeError:  # pydicom < 3
        ds.save_as(path, write_like_original=False)


def dates(s):
    """StudyDate and StudyTime of study index s, as tests/query/gen_index makes them."""
    return ("20%02d%02d%02d" % (s % 25, 1 + (s // 25) % 12, 1 + (s // 300) % 28),
            "%02d%02d00" % (7 + s % 12, s % 60))


def studies(outdir, n):
    rng = np.random.default_rng(1)
    pix = rng.integers(0, 4096, size=(64, 64), dtype=np.uint16)
    for s in range(n):
        sdate, stime = dates(s)
        study = s + 1
        ds = make(study, "%s.%d.1" % (ROOT, study), "%s.%d.1.1" % (ROOT, study), s // 2,
                  sdate, stime, 1, pix)
        write(os.path.join(outdir, "s%06d.dcm" % study), ds)


def one_study(outdir, n, size):
    rng = np.random.default_rng(2)
    study = 900000001  # outside the "studies" range
    series = "%s.%d.1" % (ROOT, study)
    base = rng.integers(0, 4096, size=(size, size), dtype=np.uint16)
    for i in range(n):
        # a different image per instance (a cheap roll of the base), so nothing is shared
        pix = np.roll(base, i, axis=0)
        ds = make(study, series, "%s.%d.1.%d" % (ROOT, study, i + 1), 999999, "20240101",
                  "120000", i + 1, pix)
        write(os.path.join(outdir, "i%05d.dcm" % (i + 1)), ds)
    print("%s.%d" % (ROOT, study))


def main(argv):
    if len(argv) >= 4 and argv[1] == "studies":
        os.makedirs(argv[2], exist_ok=True)
        studies(argv[2], int(argv[3]))
    elif len(argv) >= 5 and argv[1] == "study":
        os.makedirs(argv[2], exist_ok=True)
        one_study(argv[2], int(argv[3]), int(argv[4]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
