#!/usr/bin/python3
"""Regenerates the seed corpora under tests/fuzz/corpus (run from the source tree root; needs
python3-pydicom). The PDU and DIMSE seeds come from mkseeds.c (the captured dcmtk vectors);
ONNX seeds are the small fixtures of tests/nn. Run by hand; the output is committed."""
import glob, io, os, shutil, sys, zlib
import pydicom
from pydicom.dataset import Dataset
from pydicom.filewriter import write_dataset

TF = os.environ.get("PYDICOM_FILES", "/usr/lib/python3/dist-packages/pydicom/data/test_files")
OUT = "tests/fuzz/corpus"

def put(target, name, data):
    os.makedirs(f"{OUT}/{target}", exist_ok=True)
    with open(f"{OUT}/{target}/{name}", "wb") as f:
        f.write(data)

def encode(ds, little, implicit):
    buf = pydicom.filebase.DicomBytesIO()
    buf.is_little_endian = little
    buf.is_implicit_VR = implicit
    write_dataset(buf, ds)
    return buf.getvalue()

# data set parser: byte 0 = TS index in fuzz_parser.c (0 implicit LE, 1 explicit LE,
# 2 explicit BE, 3 deflated LE, 4 RLE), byte 1 = split point
for fn in ["rtplan.dcm", "reportsi.dcm", "priv_SQ.dcm", "nested_priv_SQ.dcm", "UN_sequence.dcm",
           "rtdose_1frame.dcm", "SC_rgb_small_odd.dcm", "empty_charset_LEI.dcm"]:
    ds = pydicom.dcmread(f"{TF}/{fn}", force=True)
    if "PixelData" in ds and "BitsAllocated" not in ds:
        del ds.PixelData
    base = os.path.splitext(fn)[0]
    put("dataset", f"{base}.ile", bytes([0, 100]) + encode(ds, True, True))
    put("dataset", f"{base}.ele", bytes([1, 128]) + encode(ds, True, False))
    put("dataset", f"{base}.ebe", bytes([2, 60]) + encode(ds, False, False))
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    put("dataset", f"{base}.def", bytes([3, 200]) + c.compress(encode(ds, True, False)) + c.flush())
for fn in ["SC_rgb_rle.dcm", "rtdose_rle_1frame.dcm"]:
    raw = open(f"{TF}/{fn}", "rb").read()
    ds = pydicom.dcmread(f"{TF}/{fn}")
    put("dataset", os.path.splitext(fn)[0] + ".rle", bytes([4, 90]) + encode(ds, True, False))

# C-FIND identifiers: byte 0 bit 0 model (1 study root), bits 1-2 op (0 find, 1 move, 2 get),
# bits 3-5 TS (0 implicit LE, 1 explicit LE, 2 explicit BE, 3 deflated)
def ident(level, **kw):
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.QueryRetrieveLevel = level
    for k, v in kw.items():
        setattr(ds, k, v)
    return ds
ids = {
    "patient": (0, ident("PATIENT", PatientName="Doe^J*", PatientID="", PatientBirthDate="19500101-")),
    "study": (1, ident("STUDY", StudyInstanceUID="", StudyDate="20200101-20201231", StudyTime="0800-1700",
                       ModalitiesInStudy="MR", AccessionNumber="A?1", PatientName="", NumberOfStudyRelatedInstances="")),
    "series": (1, ident("SERIES", StudyInstanceUID="1.2.3", SeriesInstanceUID="", Modality="MR", SeriesNumber="")),
    "image": (1, ident("IMAGE", StudyInstanceUID="1.2.3", SeriesInstanceUID="1.2.3.4", SOPInstanceUID="1.2.3.4.5\\1.2.3.4.6",
                       InstanceNumber="", SOPClassUID="")),
    "move": (1 | 2, ident("SERIES", StudyInstanceUID="1.2.3", SeriesInstanceUID="1.2.3.4\\1.2.3.5")),
    "get": (0 | 4, ident("STUDY", PatientID="P1", StudyInstanceUID="1.2.3")),
}
seq = ident("STUDY", StudyInstanceUID="")
item = Dataset(); item.CodeValue = ""; item.CodingSchemeDesignator = "DCM"
seq.ProcedureCodeSequence = [item]
ids["seq"] = (1, seq)
private = ident("STUDY", StudyInstanceUID="")
private.add_new(0x00710010, "LO", "DICOMAID QR 1")
private.add_new(0x00711001, "CS", "YES")
ids["lesion"] = (1, private)
for name, (b0, ds) in ids.items():
    put("query", f"{name}.ile", bytes([b0]) + encode(ds, True, True))
    put("query", f"{name}.ele", bytes([b0 | 8]) + encode(ds, True, False))
put("query", "study.ebe", bytes([1 | 16]) + encode(ids["study"][1], False, False))
c = zlib.compressobj(9, zlib.DEFLATED, -15)
put("query", "study.def", bytes([1 | 24]) + c.compress(encode(ids["study"][1], True, False)) + c.flush())

# configuration files
shutil.rmtree(f"{OUT}/config", ignore_errors=True)
put("config", "example.conf", open("etc/dicomaid.conf", "rb").read())
put("config", "peers.conf", b"""[server]
ae_title = DICOMAID
bind = 127.0.0.1
port = 11112
max_associations = 4
max_pdu = 65536
[storage]
path = /tmp/x
fsync = no
duplicates = reject
[index]
database = /tmp/x/index.sqlite
[access]
require_known_peers = yes
[query]
max_matches = 100
pn_case_insensitive = yes
[analysis]
enabled = yes
workers = 2
stable_seconds = 3
model = /tmp/m.onnx
gsps = yes
[destination pacs]
ae_title = PACS
host = 10.0.0.1
port = 104
results = yes
[log]
level = debug
[peer ct1]
ae_title = CT1
host = 10.0.0.2
services = echo,store
[peer ws]
ae_title = WS
port = 4006
""")

# ONNX: the smallest fixtures, good and bad
for f in sorted(glob.glob("tests/nn/fixtures/*.onnx") + glob.glob("tests/nn/fixtures/bad/*.onnx")):
    if os.path.getsize(f) <= 30000:
        put("onnx", os.path.basename(f), open(f, "rb").read())
