#!/usr/bin/python3
"""Generate a deterministic corpus of MR Image Storage files for the store benchmark.

Usage: tools/gen_corpus.py OUTDIR [--n256 2000] [--n512 500] [--seed 1]
                          [--per-series 50] [--patients 4]

Every file is Part 10, Explicit VR Little Endian (1.2.840.10008.1.2.1), SOP Class MR Image
Storage (1.2.840.10008.5.1.4.1.1.4), 16-bit unsigned MONOCHROME2 with BitsStored 12.  Slices are
grouped into series of --per-series slices (axial stacks with consistent Image Position /
Orientation (Patient), Pixel Spacing, Slice Thickness and Frame of Reference); series are grouped
into studies (two series per study) and studies into --patients patients.  The 256x256 slices
come first, then the 512x512 slices, so each series has one matrix size.

Pixel content is a smooth random field (a low-resolution random volume upsampled with separable
linear interpolation, all numpy matrix products) inside an elliptical "head" with a little noise:
it is not compressible to nothing, yet not white noise.  Everything (UIDs, dates, pixels) depends
only on --seed and the counts, so two runs with the same arguments write byte-identical files.

Files are named OUTDIR/<series-index>/<instance-number>.dcm; a manifest OUTDIR/corpus.txt lists
them, one path per line, with a header comment giving the counts and total bytes.
"""

import argparse
import hashlib
import os
import sys

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
IMPL_CLASS_UID = "1.2.826.0.1.3680043.10.1046.1"  # arbitrary, stable, only identifies this tool
IMPL_VERSION = "DICOMAID_GEN_1"


def uid(seed, *parts):
    """A deterministic UID under the 2.25 (UUID-derived) root, PS3.5 B.2: 2.25.<128-bit integer>."""
    h = hashlib.sha256(("%d|" % seed + "|".join(str(p) for p in parts)).encode()).digest()
    return "2.25." + str(int.from_bytes(h[:16], "big"))


def interp_matrix(n_out, n_in):
    """(n_out x n_in) linear interpolation matrix mapping n_in samples onto n_out samples."""
    x = np.linspace(0.0, n_in - 1.0, n_out)
    i0 = np.floor(x).astype(np.int64)
    i0 = np.clip(i0, 0, n_in - 2)
    f = x - i0
    m = np.zeros((n_out, n_in), dtype=np.float32)
    rows = np.arange(n_out)
    m[rows, i0] = 1.0 - f
    m[rows, i0 + 1] = f
    return m


def series_pixels(rng, nslices, size):
    """A uint16 array (nslices, size, size) of smooth random-ish MR-like content."""
    low = 24  # in-plane control points
    lowz = max(2, nslices // 8 + 2)
    vol = rng.standard_normal((lowz, low, low)).astype(np.float32)
    rz = interp_matrix(nslices, lowz)  # (nslices, lowz)
    rxy = interp_matrix(size, low)  # (size, low)
    # z first (cheap at low resolution), then in-plane: out[z] = rxy @ vol_z @ rxy.T
    vz = np.tensordot(rz, vol, axes=(1, 0))  # (nslices, low, low)
    img = np.matmul(np.matmul(rxy[None, :, :], vz), rxy.T[None, :, :])  # (nslices, size, size)
    # elliptical head mask, slightly shrinking towards the ends of the stack
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = size / 2.0, size / 2.0
    zz = np.linspace(-1.0, 1.0, nslices, dtype=np.float32)
    scale = np.sqrt(np.clip(1.0 - 0.6 * zz * zz, 0.05, 1.0))  # (nslices,)
    ry, rx = 0.42 * size, 0.36 * size
    d = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2  # (size, size)
    mask = np.clip((scale[:, None, None] ** 2 - d[None]) * 8.0, 0.0, 1.0)
    tissue = 900.0 + 350.0 * img
    noise = rng.standard_normal((nslices, size, size)).astype(np.float32) * 25.0
    out = mask * tissue + 15.0 + np.abs(noise)
    return np.clip(out, 0, 4095).astype(np.uint16)


def base_dataset(seed, patient, study, series, size):
    """(dataset, field of view mm, slice gap mm): the header shared by every slice of one series."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "ND"]
    ds.SOPClassUID = MR_IMAGE_STORAGE
    date = "2026%02d%02d" % (1 + study % 12, 1 + (study * 7) % 28)
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = date
    ds.StudyTime = "%02d%02d%02d" % (8 + study % 10, (study * 13) % 60, 0)
    ds.SeriesTime = "%02d%02d%02d" % (8 + study % 10, (study * 13 + series % 2 * 7) % 60, 30)
    ds.AccessionNumber = "ACC%07d" % (seed * 1000 + study)
    ds.Modality = "MR"
    ds.Manufacturer = "DICOMAID BENCH"
    ds.InstitutionName = "Synthetic Hospital"
    ds.ReferringPhysicianName = "Referrer^Synthetic"
    ds.StudyDescription = "MRI BRAIN WITHOUT CONTRAST"
    ds.SeriesDescription = ["AX T1", "AX T2 FLAIR", "AX T2", "AX T1 POST"][series % 4]
    ds.ManufacturerModelName = "GEN_CORPUS"
    ds.PatientName = "Synthetic^Patient%03d" % patient
    ds.PatientID = "SYN%06d" % (seed * 1000 + patient)
    ds.PatientBirthDate = "19%02d%02d%02d" % (40 + patient % 50, 1 + patient % 12, 1 + patient % 28)
    ds.PatientSex = "MF"[patient % 2]
    ds.PatientAge = "%03dY" % (30 + patient % 50)
    ds.BodyPartExamined = "BRAIN"
    ds.ScanningSequence = ["SE", "IR"] if series % 4 == 1 else "SE"
    ds.SequenceVariant = "SK"
    ds.ScanOptions = "FS" if series % 2 else ""
    ds.MRAcquisitionType = "2D"
    thick = 3.0 if size == 512 else 5.0
    ds.SliceThickness = "%.1f" % thick
    ds.RepetitionTime = "%.1f" % [500.0, 9000.0, 4000.0, 550.0][series % 4]
    ds.EchoTime = "%.1f" % [12.0, 120.0, 95.0, 12.0][series % 4]
    ds.ImagingFrequency = "63.87"
    ds.ImagedNucleus = "1H"
    ds.MagneticFieldStrength = "1.5"
    ds.SpacingBetweenSlices = "%.1f" % (thick + 1.0)
    ds.EchoTrainLength = "1"
    ds.ProtocolName = ds.SeriesDescription
    ds.PatientPosition = "HFS"
    ds.StudyInstanceUID = uid(seed, "study", study)
    ds.SeriesInstanceUID = uid(seed, "series", series)
    ds.StudyID = "%d" % (study + 1)
    ds.SeriesNumber = series + 1
    ds.AcquisitionNumber = 1
    ds.ImageOrientationPatient = ["1", "0", "0", "0", "1", "0"]
    ds.FrameOfReferenceUID = uid(seed, "for", study)
    ds.PositionReferenceIndicator = ""
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows = size
    ds.Columns = size
    fov = 240.0
    ds.PixelSpacing = ["%.6g" % (fov / size), "%.6g" % (fov / size)]
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    ds.WindowCenter = "900"
    ds.WindowWidth = "1800"
    return ds, fov, thick + 1.0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--n256", type=int, default=2000, help="number of 256x256 slices")
    ap.add_argument("--n512", type=int, default=500, help="number of 512x512 slices")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--per-series", type=int, default=50, help="slices per series (max)")
    ap.add_argument("--patients", type=int, default=4)
    a = ap.parse_args(argv)
    if a.n256 < 0 or a.n512 < 0 or a.per_series < 1 or a.patients < 1:
        ap.error("counts must be positive")

    os.makedirs(a.outdir, exist_ok=True)
    rng = np.random.default_rng(a.seed)
    # plan: list of (size, nslices) series
    plan = []
    for size, total in ((256, a.n256), (512, a.n512)):
        left = total
        while left > 0:
            n = min(a.per_series, left)
            plan.append((size, n))
            left -= n

    paths = []
    total_bytes = 0
    for s, (size, n) in enumerate(plan):
        study = s // 2
        patient = study % a.patients
        ds, fov, gap = base_dataset(a.seed, patient, study, s, size)
        px = series_pixels(rng, n, size)
        sdir = os.path.join(a.outdir, "%03d" % s)
        os.makedirs(sdir, exist_ok=True)
        z0 = -(n - 1) * gap / 2.0
        for i in range(n):
            ds.SOPInstanceUID = uid(a.seed, "sop", s, i)
            ds.InstanceNumber = i + 1
            z = z0 + i * gap
            ds.ImagePositionPatient = ["%.4f" % (-fov / 2), "%.4f" % (-fov / 2), "%.4f" % z]
            ds.SliceLocation = "%.4f" % z
            ds.ContentTime = "%s.%03d" % (ds.SeriesTime, i % 1000)
            ds.PixelData = px[i].tobytes()  # little endian on every platform we run on
            fm = FileMetaDataset()
            fm.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
            fm.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            fm.TransferSyntaxUID = ExplicitVRLittleEndian
            fm.ImplementationClassUID = IMPL_CLASS_UID
            fm.ImplementationVersionName = IMPL_VERSION
            ds.file_meta = fm
            ds.is_little_endian = True
            ds.is_implicit_VR = False
            path = os.path.join(sdir, "%04d.dcm" % (i + 1))
            ds.preamble = b"\0" * 128
            pydicom.dcmwrite(path, ds, write_like_original=False)
            total_bytes += os.path.getsize(path)
            paths.append(path)

    with open(os.path.join(a.outdir, "corpus.txt"), "w") as f:
        f.write("# n256=%d n512=%d seed=%d files=%d bytes=%d\n"
                % (a.n256, a.n512, a.seed, len(paths), total_bytes))
        for p in paths:
            f.write(os.path.abspath(p) + "\n")
    print("gen_corpus: %d files, %d series, %.1f MB in %s"
          % (len(paths), len(plan), total_bytes / 1e6, a.outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
