/* decode.cc: pixel decoding for the analysis workers. Reads a Part 10 file with dcmtk, converts
 * any accepted encapsulated or native transfer syntax to native Explicit VR Little Endian
 * (PS3.5 Annex A; dcmtk's JPEG, JPEG-LS and RLE decoders, registered once in common.cc),
 * applies the Modality LUT (Rescale Slope/Intercept or a Modality LUT Sequence, PS3.3
 * C.11.1; for Enhanced MR the Shared, else the first Per-frame, Pixel Value Transformation
 * applies to every frame) and returns
 * float32 modality values plus the geometry the caller sorts and scales slices by. Each call
 * owns its own DcmFileFormat, so calls on different threads share no state. */
#include "report/report_impl.hh"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

using namespace report_impl;

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "decode.cc reads dcmtk's host-order OW pixel data as little endian"
#endif

namespace {

/* Transfer syntaxes whose pixel data the registered decoders (or dcmdata itself) handle. */
bool decodable(E_TransferSyntax x)
{
	switch (x) {
	case EXS_LittleEndianImplicit:
	case EXS_LittleEndianExplicit:
	case EXS_BigEndianExplicit:
	case EXS_DeflatedLittleEndianExplicit:
	case EXS_JPEGProcess1:
	case EXS_JPEGProcess2_4:
	case EXS_JPEGProcess6_8:
	case EXS_JPEGProcess10_12:
	case EXS_JPEGProcess14:
	case EXS_JPEGProcess14SV1:
	case EXS_JPEGLSLossless:
	case EXS_JPEGLSLossy:
	case EXS_RLELossless:
		return true;
	default:
		return false;
	}
}

void get_str(DcmItem &ds, const DcmTagKey &tag, char *dst, size_t n)
{
	OFString v;
	if (ds.findAndGetOFStringArray(tag, v).good())
		copy_str(dst, n, v.c_str());
	else
		copy_str(dst, n, "");
}

/* Looks tag up at top level, then in the Shared and then the first Per-frame Functional
 * Groups item (PS3.3 C.7.6.16) inside the functional group macro sequence fg. */
DcmItem *fg_holder(DcmItem &ds, const DcmTagKey &tag, const DcmTagKey &fg)
{
	if (ds.tagExistsWithValue(tag))
		return &ds;
	const DcmTagKey groups[2] = {DCM_SharedFunctionalGroupsSequence,
	                             DCM_PerFrameFunctionalGroupsSequence};
	for (const DcmTagKey &g : groups) {
		DcmItem *outer = NULL, *inner = NULL;
		if (ds.findAndGetSequenceItem(g, outer, 0).good() && outer &&
		    outer->findAndGetSequenceItem(fg, inner, 0).good() && inner &&
		    inner->tagExistsWithValue(tag))
			return inner;
	}
	return NULL;
}

int get_doubles(DcmItem &ds, const DcmTagKey &tag, const DcmTagKey &fg, double *v, int n)
{
	DcmItem *h = fg_holder(ds, tag, fg);
	if (!h)
		return 0;
	for (int i = 0; i < n; i++) {
		Float64 x;
		if (h->findAndGetFloat64(tag, x, (unsigned long)i).bad() || !isfinite(x))
			return 0;
		v[i] = x;
	}
	return 1;
}

void read_study(DcmItem &ds, report_study *s)
{
	get_str(ds, DCM_SpecificCharacterSet, s->specific_character_set,
	        sizeof s->specific_character_set);
	get_str(ds, DCM_PatientName, s->patient_name, sizeof s->patient_name);
	get_str(ds, DCM_PatientID, s->patient_id, sizeof s->patient_id);
	get_str(ds, DCM_PatientBirthDate, s->patient_birth_date, sizeof s->patient_birth_date);
	get_str(ds, DCM_PatientSex, s->patient_sex, sizeof s->patient_sex);
	get_str(ds, DCM_StudyInstanceUID, s->study_instance_uid, sizeof s->study_instance_uid);
	get_str(ds, DCM_StudyDate, s->study_date, sizeof s->study_date);
	get_str(ds, DCM_StudyTime, s->study_time, sizeof s->study_time);
	get_str(ds, DCM_ReferringPhysicianName, s->referring_physician,
	        sizeof s->referring_physician);
	get_str(ds, DCM_StudyID, s->study_id, sizeof s->study_id);
	get_str(ds, DCM_AccessionNumber, s->accession_number, sizeof s->accession_number);
	get_str(ds, DCM_StudyDescription, s->study_description, sizeof s->study_description);
}

/* Modality LUT Sequence (0028,3000) item: PS3.3 C.11.1. When present it replaces the
 * rescale. Entries are held as 16-bit words, or two 8-bit entries per word when the
 * descriptor says 8 bits and the data is packed. */
struct Lut {
	const Uint16 *data = NULL;
	unsigned long n = 0;     /* number of entries (descriptor value 0 means 65536) */
	long first = 0;          /* first stored value mapped */
	bool packed8 = false;
	unsigned value(long k) const
	{
		if (!packed8)
			return data[k];
		const Uint8 *b = (const Uint8 *)data; /* little-endian host, see the #error above */
		return b[k];
	}
};

int read_modality_lut(DcmItem &ds, bool signed_pixels, Lut *lut)
{
	DcmItem *it = NULL;
	if (ds.findAndGetSequenceItem(DCM_ModalityLUTSequence, it, 0).bad() || !it)
		return 0;
	Uint16 desc[3];
	for (unsigned long i = 0; i < 3; i++)
		if (it->findAndGetUint16(DCM_LUTDescriptor, desc[i], i).bad())
			return REPORT_EFORMAT;
	const Uint16 *data = NULL;
	unsigned long count = 0;
	if (it->findAndGetUint16Array(DCM_LUTData, data, &count).bad() || !data)
		return REPORT_EFORMAT;
	lut->n = desc[0] ? desc[0] : 65536ul;
	/* the first mapped value is SS when the pixels are signed (C.11.1.1.1) */
	lut->first = signed_pixels ? (long)(Sint16)desc[1] : (long)desc[1];
	lut->packed8 = desc[2] == 8 && count < lut->n && count * 2 >= lut->n;
	if (count < lut->n && !lut->packed8)
		return REPORT_EFORMAT;
	if (desc[2] < 8 || desc[2] > 16)
		return REPORT_EUNSUPP;
	lut->data = data;
	return 0;
}

/* Per-frame Image Position (Patient) of a multi-frame image, or NULL (caller frees). */
double *frame_positions(DcmItem &ds, unsigned long nframes)
{
	DcmSequenceOfItems *pf = NULL;
	if (nframes < 2 || ds.findAndGetSequence(DCM_PerFrameFunctionalGroupsSequence, pf).bad() ||
	    !pf || pf->card() != nframes)
		return NULL;
	double *v = (double *)malloc(nframes * 3 * sizeof *v);
	if (!v)
		return NULL;
	for (unsigned long f = 0; f < nframes; f++) {
		DcmItem *pos = NULL;
		bool ok = pf->getItem(f)->findAndGetSequenceItem(DCM_PlanePositionSequence, pos, 0).good()
		          && pos;
		for (unsigned long k = 0; ok && k < 3; k++) {
			Float64 x;
			ok = pos->findAndGetFloat64(DCM_ImagePositionPatient, x, k).good() && isfinite(x);
			v[f * 3 + k] = x;
		}
		if (!ok) {
			free(v);
			return NULL;
		}
	}
	return v;
}

} // namespace

extern "C" void report_image_free(struct report_image *img)
{
	if (!img)
		return;
	free(img->pixels);
	free(img->frame_positions);
	memset(img, 0, sizeof *img);
}

extern "C" int report_decode_pixels(const char *path, struct report_image *out, char *err,
                                    size_t errlen)
{
	if (!path || !out)
		return fail(err, errlen, REPORT_EINVAL, "no path or output");
	memset(out, 0, sizeof *out);
	init_once();

	struct stat st;
	if (stat(path, &st) != 0)
		return fail(err, errlen, REPORT_EIO, "%s: %s", path, strerror(errno));

	DcmFileFormat ff;
	OFCondition c = ff.loadFile(path, EXS_Unknown, EGL_noChange, DCM_MaxReadLength,
	                            ERM_fileOnly);
	if (c.bad())
		return fail(err, errlen, REPORT_EFORMAT, "%s: not a readable Part 10 file: %s", path,
		            c.text());
	DcmDataset &ds = *ff.getDataset();
	E_TransferSyntax xfer = ds.getOriginalXfer();
	DcmXfer dx(xfer);
	copy_str(out->transfer_syntax_uid, sizeof out->transfer_syntax_uid, dx.getXferID());
	if (!decodable(xfer))
		return fail(err, errlen, REPORT_EUNSUPP, "%s: transfer syntax %s (%s) is not decodable",
		            path, dx.getXferID(), dx.getXferName());

	Uint16 rows = 0, cols = 0, spp = 1, ba = 0, bs = 0, hb = 0, pr = 0;
	if (ds.findAndGetUint16(DCM_Rows, rows).bad() || ds.findAndGetUint16(DCM_Columns, cols).bad() ||
	    ds.findAndGetUint16(DCM_BitsAllocated, ba).bad() ||
	    ds.findAndGetUint16(DCM_BitsStored, bs).bad() || rows == 0 || cols == 0)
		return fail(err, errlen, REPORT_EFORMAT, "%s: Rows/Columns/Bits Allocated/Bits Stored "
		            "missing", path);
	if (ds.findAndGetUint16(DCM_HighBit, hb).bad())
		hb = (Uint16)(bs - 1);
	ds.findAndGetUint16(DCM_SamplesPerPixel, spp);
	ds.findAndGetUint16(DCM_PixelRepresentation, pr);
	OFString photometric;
	ds.findAndGetOFString(DCM_PhotometricInterpretation, photometric);
	if (spp != 1 || (photometric != "MONOCHROME1" && photometric != "MONOCHROME2"))
		return fail(err, errlen, REPORT_EUNSUPP, "%s: only MONOCHROME1/2 with one sample is "
		            "supported (got %s, %u samples)", path, photometric.c_str(), spp);
	if ((ba != 8 && ba != 16 && ba != 32) || bs == 0 || bs > ba || hb >= ba || hb + 1 < bs)
		return fail(err, errlen, REPORT_EUNSUPP, "%s: unsupported bit layout (allocated %u, "
		            "stored %u, high bit %u)", path, ba, bs, hb);
	Sint32 nframes = 1;
	if (ds.tagExistsWithValue(DCM_NumberOfFrames) &&
	    (ds.findAndGetSint32(DCM_NumberOfFrames, nframes).bad() || nframes < 1))
		return fail(err, errlen, REPORT_EFORMAT, "%s: invalid Number of Frames", path);
	uint64_t npix = (uint64_t)rows * cols * (uint64_t)nframes;
	if (npix > REPORT_MAX_PIXELS)
		return fail(err, errlen, REPORT_ENOMEM, "%s: %llu pixels exceed the limit", path,
		            (unsigned long long)npix);
	if (!ds.tagExistsWithValue(DCM_PixelData))
		return fail(err, errlen, REPORT_EFORMAT, "%s: no Pixel Data", path);

	/* Decode to native little endian; a corrupt bitstream fails here, not later. */
	c = ds.chooseRepresentation(EXS_LittleEndianExplicit, NULL);
	if (c.bad() || !ds.canWriteXfer(EXS_LittleEndianExplicit))
		return fail(err, errlen, REPORT_EFORMAT, "%s: cannot decode pixel data (%s): %s", path,
		            dx.getXferName(), c.bad() ? c.text() : "no native representation");

	/* The native value as a little-endian byte stream: dcmtk keeps OW in host order, which
	 * is little endian on every platform dicomaid builds for (checked at compile time). */
	DcmElement *el = NULL;
	if (ds.findAndGetElement(DCM_PixelData, el).bad() || !el)
		return fail(err, errlen, REPORT_EFORMAT, "%s: no Pixel Data", path);
	const size_t bpp = ba / 8;
	const size_t need = (size_t)npix * bpp;
	const Uint32 have = el->getLength();
	Uint8 *bytes = NULL;
	Uint16 *words = NULL;
	if (el->getVR() == EVR_OW && el->getUint16Array(words).good() && words)
		bytes = (Uint8 *)words;
	else if (el->getUint8Array(bytes).bad())
		bytes = NULL;
	if (!bytes || have < need)
		return fail(err, errlen, REPORT_EFORMAT, "%s: pixel data too short (%lu of %zu bytes)",
		            path, (unsigned long)have, need);

	double slope = 1.0, intercept = 0.0;
	get_doubles(ds, DCM_RescaleSlope, DCM_PixelValueTransformationSequence, &slope, 1);
	get_doubles(ds, DCM_RescaleIntercept, DCM_PixelValueTransformationSequence, &intercept, 1);
	if (slope == 0.0)
		slope = 1.0;
	Lut lut;
	int rc = read_modality_lut(ds, pr == 1, &lut);
	if (rc != 0)
		return fail(err, errlen, rc, "%s: unusable Modality LUT Sequence", path);

	float *px = (float *)malloc((size_t)npix * sizeof(float));
	if (!px)
		return fail(err, errlen, REPORT_ENOMEM, "%s: out of memory", path);
	/* dcmtk byte-swaps OW from big endian per 16-bit word, which leaves the two halves of
	 * a 32-bit sample in big-endian order. */
	const bool word_swapped = xfer == EXS_BigEndianExplicit && el->getVR() == EVR_OW;
	/* PS3.5 8.1.1: Bits Stored bits ending at High Bit; two's complement when signed. */
	const unsigned shift = (unsigned)(hb + 1 - bs);
	const uint32_t mask = bs >= 32 ? 0xffffffffu : ((1u << bs) - 1u);
	const uint32_t sign = 1u << (bs - 1);
	for (uint64_t i = 0; i < npix; i++) {
		const Uint8 *p = bytes + i * bpp;
		uint32_t raw = p[0];
		if (bpp >= 2)
			raw |= (uint32_t)p[1] << 8;
		if (bpp == 4)
			raw = word_swapped ? (raw << 16 | (uint32_t)p[2] | (uint32_t)p[3] << 8)
			                   : (raw | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24);
		uint32_t v = (raw >> shift) & mask;
		double sv = (pr == 1 && (v & sign)) ? (double)((int64_t)v - ((int64_t)1 << bs)) : (double)v;
		if (lut.data) {
			/* PS3.3 C.11.1.1.1: values below the first mapped value take the first entry,
			 * values beyond the last take the last */
			long k = (long)sv - lut.first;
			k = k < 0 ? 0 : (k >= (long)lut.n ? (long)lut.n - 1 : k);
			px[i] = (float)lut.value(k);
		} else {
			px[i] = (float)(sv * slope + intercept);
		}
	}

	out->pixels = px;
	out->rows = rows;
	out->cols = cols;
	out->frames = (uint32_t)nframes;
	out->has_position = get_doubles(ds, DCM_ImagePositionPatient, DCM_PlanePositionSequence,
	                                out->position, 3);
	out->has_orientation = get_doubles(ds, DCM_ImageOrientationPatient,
	                                   DCM_PlaneOrientationSequence, out->orientation, 6);
	out->has_spacing = get_doubles(ds, DCM_PixelSpacing, DCM_PixelMeasuresSequence, out->spacing, 2);
	if (!get_doubles(ds, DCM_SliceThickness, DCM_PixelMeasuresSequence, &out->slice_thickness, 1))
		out->slice_thickness = 0.0;
	if (!get_doubles(ds, DCM_WindowCenter, DCM_FrameVOILUTSequence, &out->window_center, 1) ||
	    !get_doubles(ds, DCM_WindowWidth, DCM_FrameVOILUTSequence, &out->window_width, 1))
		out->window_center = out->window_width = 0.0;
	out->frame_positions = frame_positions(ds, (unsigned long)nframes);
	if (out->frame_positions) {
		memcpy(out->position, out->frame_positions, sizeof out->position);
		out->has_position = 1;
	}
	Sint32 inst = 0;
	if (ds.findAndGetSint32(DCM_InstanceNumber, inst).good())
		out->instance_number = inst;
	get_str(ds, DCM_Modality, out->modality, sizeof out->modality);
	get_str(ds, DCM_SOPClassUID, out->sop_class_uid, sizeof out->sop_class_uid);
	get_str(ds, DCM_SOPInstanceUID, out->sop_instance_uid, sizeof out->sop_instance_uid);
	get_str(ds, DCM_SeriesInstanceUID, out->series_instance_uid, sizeof out->series_instance_uid);
	get_str(ds, DCM_FrameOfReferenceUID, out->frame_of_reference_uid,
	        sizeof out->frame_of_reference_uid);
	read_study(ds, &out->study);
	return 0;
}
