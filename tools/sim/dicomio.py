"""Write a simulated study as DICOM Part 10 files plus truth.json.

This module owns the DICOM side of the simulator: one MR Image Storage instance per slice
(PS3.3 A.4, MR Image IOD: Patient, General Study, General Series, Frame of Reference, General
Equipment, General Image, Image Plane, Image Pixel, MR Image, SOP Common), explicit or implicit
VR little endian chosen per study, and the ground truth in the shape dicomaid-detect prints.
All UIDs are 2.25 UUID-derived UIDs (PS3.5 B.2) computed from the split and seed, so the same
arguments give byte-identical files.
"""

import datetime
import hashlib
import json
import os

import numpy as np

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"


def uid(*parts):
    h = hashlib.sha256("/".join(str(p) for p in ("dicomaid-sim",) + parts).encode()).hexdigest()
    return "2.25.%d" % int(h[:32], 16)


IMPL_UID = uid("implementation")


def _ds(v):
    """DS string of at most 16 characters (PS3.5 6.2)."""
    s = "%.6g" % v
    if len(s) > 16:
        s = ("%.10g" % v)[:16]
    return s


def write_study(study, outdir, name, rng=None):
    """Render every slice of `study` and write OUTDIR/NAME/IM%04d.dcm and truth.json.
    Returns the truth dict."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset

    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    rng = rng or np.random.default_rng([study.seed, 991])
    n = study.n
    ks = np.arange(n)
    img, covs = study.render(ks)
    boxes = study.boxes(covs, n)
    centres = study.core_centre_mm(covs, ks)
    key = (study.split, study.seed)
    study_uid, series_uid, for_uid = uid(*key, "study"), uid(*key, "series"), uid(*key, "for")
    sop = [uid(*key, "sop", k) for k in range(n)]
    explicit = bool(rng.random() < 0.5)
    signed = bool(rng.random() < 0.25)
    use_rescale = bool(rng.random() < 0.3)
    slope = float(rng.choice([0.5, 1.0, 2.0, 4.0])) if use_rescale else 1.0
    intercept = float(rng.choice([0.0, -100.0])) if use_rescale else 0.0
    values = img * study.scale                    # the "physical" values (Modality LUT output)
    stored = np.rint((values - intercept) / slope)
    lim = 32767 if signed else 65535
    stored = np.clip(stored, -32768 if signed else 0, lim).astype(np.int32)
    maxv = int(stored.max()) if stored.size else 0
    bits = 12 if (maxv < 4096 and not signed) else 16
    day = datetime.date(2024, 1, 1) + datetime.timedelta(days=int(study.seed % 700))
    tm = "%02d%02d%02d" % (8 + study.seed % 10, study.seed % 60, (study.seed * 7) % 60)
    fam = study.family
    desc = {"t1c": "AX T1 POST-CONTRAST (SIMULATED)", "t2": "AX T2 (SIMULATED)"}.get(fam, fam)
    order = ks[::-1] if study.reverse else ks      # instance i (1-based) shows slice order[i-1]
    for i, k in enumerate(order, start=1):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
        meta.MediaStorageSOPInstanceUID = sop[k]
        meta.TransferSyntaxUID = EXPLICIT_LE if explicit else IMPLICIT_LE
        meta.ImplementationClassUID = IMPL_UID
        meta.ImplementationVersionName = "DICOMAID_SIM1"
        ds = Dataset()
        ds.file_meta = meta
        ds.SpecificCharacterSet = "ISO_IR 100"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "OTHER"]
        ds.SOPClassUID = MR_IMAGE_STORAGE
        ds.SOPInstanceUID = sop[k]
        ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = day.strftime("%Y%m%d")
        ds.StudyTime = ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = tm
        ds.AccessionNumber = "SIM%07d" % (study.seed % 10000000)
        ds.Modality = "MR"
        ds.Manufacturer = "dicomaid simulator"
        ds.InstitutionName = "Simulated"
        ds.ReferringPhysicianName = ""
        ds.StationName = "SIM01"
        ds.StudyDescription = "MRI BRAIN (SIMULATED, NOT A PATIENT)"
        ds.SeriesDescription = desc
        ds.ManufacturerModelName = "dicomaid-sim"
        ds.PatientName = "SIM^%s^%d" % (study.split.upper().replace("-", ""), study.seed)
        ds.PatientID = "SIM-%s-%d" % (study.split, study.seed)
        ds.PatientBirthDate = "19%02d0101" % (40 + study.seed % 50)
        ds.PatientSex = "MF"[study.seed % 2]
        ds.PatientAge = "%03dY" % (day.year - 1940 - study.seed % 50)
        ds.BodyPartExamined = "BRAIN"
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "SK"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.SliceThickness = _ds(study.thk)
        ds.SpacingBetweenSlices = _ds(study.sp)
        ds.RepetitionTime = "550" if fam == "t1c" else "4000"
        ds.EchoTime = "10" if fam == "t1c" else "95"
        ds.MagneticFieldStrength = "1.5"
        ds.EchoTrainLength = "1" if fam == "t1c" else "16"
        ds.PatientPosition = "HFS"
        ds.StudyInstanceUID = study_uid
        ds.SeriesInstanceUID = series_uid
        ds.StudyID = "%d" % (study.seed % 100000)
        ds.SeriesNumber = "3" if fam == "t1c" else "2"
        ds.AcquisitionNumber = "1"
        ds.InstanceNumber = str(i)
        pos = study.patient(k, 0, 0)
        ds.ImagePositionPatient = [_ds(x) for x in pos]
        ds.ImageOrientationPatient = [_ds(x) for x in np.concatenate([study.u, study.v])]
        ds.FrameOfReferenceUID = for_uid
        ds.PositionReferenceIndicator = ""
        ds.SliceLocation = _ds(float(pos @ study.nrm))
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows = ds.Columns = img.shape[1]
        ds.PixelSpacing = [_ds(study.ps), _ds(study.ps)]
        ds.BitsAllocated = 16
        ds.BitsStored = bits
        ds.HighBit = bits - 1
        ds.PixelRepresentation = 1 if signed else 0
        if use_rescale:
            ds.RescaleIntercept = _ds(intercept)
            ds.RescaleSlope = _ds(slope)
            ds.RescaleType = "US"
        wc = float(np.percentile(values, 99)) / 2
        ds.WindowCenter = _ds(round(wc))
        ds.WindowWidth = _ds(round(2 * wc))
        arr = stored[k].astype("<i2" if signed else "<u2")
        ds.PixelData = arr.tobytes()
        ds["PixelData"].VR = "OW"
        ds.is_little_endian = True
        ds.is_implicit_VR = not explicit
        pydicom.dcmwrite(os.path.join(d, "IM%04d.dcm" % i), ds, write_like_original=False)
    lesions = []
    for les, bl, c in zip(study.lesions, boxes, centres):
        if not bl:
            continue
        lesions.append({
            "type": les.type,
            "variant": les.variant,
            "diameter_mm": round(2.0 * float(les.ax.mean()), 1),
            "centre_mm": [round(float(x), 2) for x in c],
            "boxes": [{"sop_instance_uid": sop[k], "col_min": c0, "row_min": r0, "col_max": c1,
                       "row_max": r1} for (k, c0, r0, c1, r1) in bl],
        })
    truth = {"study_instance_uid": study_uid, "series_instance_uid": series_uid,
             "split": study.split, "seed": study.seed, "contrast": fam, "base": study.base.name,
             "slices": n, "lesions": lesions}
    with open(os.path.join(d, "truth.json"), "w") as f:
        json.dump(truth, f, indent=1)
    return truth
