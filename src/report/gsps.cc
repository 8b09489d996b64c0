/* gsps.cc: a Grayscale Softcopy Presentation State (PS3.3 A.33.1; DICOM-FACTS section 3) that
 * draws every lesion box on its image, so that any PACS viewer shows the findings. Each box is
 * a closed 5-point POLYLINE in PIXEL units (GSPS has no RECTANGLE primitive, PS3.3 C.10.5.1.2)
 * on the graphic layer "AI_FINDINGS", with a short text label next to it. The data set is built
 * attribute by attribute and then parsed by dcmtk's presentation state reader (what dcmpschk
 * uses) before it is written; a state that reader rejects is not written. */
#include "report/report_impl.hh"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmpstat/dcmpstat.h>

#include <stdio.h>
#include <string.h>

using namespace report_impl;

namespace {

const char *const LAYER = "AI_FINDINGS";

bool same_series(const report_source_image *a, const report_source_image *b)
{
	return strcmp(a->series_instance_uid, b->series_instance_uid) == 0;
}

void add_image_ref(DcmItem &parent, const DcmTagKey &seq, const report_source_image *im)
{
	DcmItem *ref = NULL;
	if (parent.findOrCreateSequenceItem(seq, ref, -2).bad() || !ref)
		return;
	put(*ref, DCM_ReferencedSOPClassUID, im->sop_class_uid);
	put(*ref, DCM_ReferencedSOPInstanceUID, im->sop_instance_uid);
	if (im->frame > 0) {
		char n[16];
		snprintf(n, sizeof n, "%u", im->frame);
		put(*ref, DCM_ReferencedFrameNumber, n);
	}
}

/* C.11.11 Presentation State Relationship: every image, grouped by series. */
void add_relationship(DcmDataset &ds, const report_findings *f)
{
	for (size_t i = 0; i < f->n_images; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen = seen || same_series(&f->images[j], &f->images[i]);
		if (seen)
			continue;
		DcmItem *series = NULL;
		if (ds.findOrCreateSequenceItem(DCM_ReferencedSeriesSequence, series, -2).bad() || !series)
			return;
		put(*series, DCM_SeriesInstanceUID, f->images[i].series_instance_uid);
		for (size_t j = i; j < f->n_images; j++) {
			if (!same_series(&f->images[j], &f->images[i]))
				continue;
			/* one item per instance; the frames of a multi-frame image are listed in its
			 * Referenced Frame Number (0008,1160), VM 1-n */
			bool dup = false;
			for (size_t k = 0; k < j; k++)
				dup = dup || strcmp(f->images[k].sop_instance_uid,
				                    f->images[j].sop_instance_uid) == 0;
			if (dup)
				continue;
			add_image_ref(*series, DCM_ReferencedImageSequence, &f->images[j]);
			if (f->images[j].frame == 0)
				continue;
			OFString frames;
			for (size_t k = j; k < f->n_images; k++) {
				if (strcmp(f->images[k].sop_instance_uid, f->images[j].sop_instance_uid) != 0 ||
				    f->images[k].frame == 0)
					continue;
				char n[16];
				snprintf(n, sizeof n, "%s%u", frames.empty() ? "" : "\\", f->images[k].frame);
				frames += n;
			}
			DcmSequenceOfItems *seq = NULL;
			if (series->findAndGetSequence(DCM_ReferencedImageSequence, seq).good() && seq &&
			    seq->card() > 0)
				put(*seq->getItem(seq->card() - 1), DCM_ReferencedFrameNumber, frames.c_str());
		}
	}
}

/* C.10.4 Displayed Area: one item per distinct image size and spacing (image references only when the
 * sizes differ, since an item without references applies to every image). */
void add_displayed_area(DcmDataset &ds, const report_findings *f)
{
	bool uniform = true;
	for (size_t i = 1; i < f->n_images; i++)
		uniform = uniform && f->images[i].rows == f->images[0].rows &&
		          f->images[i].cols == f->images[0].cols &&
		          f->images[i].spacing[0] == f->images[0].spacing[0] &&
		          f->images[i].spacing[1] == f->images[0].spacing[1];
	for (size_t i = 0; i < f->n_images; i++) {
		const report_source_image *im = &f->images[i];
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen = seen || (f->images[j].rows == im->rows && f->images[j].cols == im->cols &&
			                f->images[j].spacing[0] == im->spacing[0] &&
			                f->images[j].spacing[1] == im->spacing[1]);
		if (seen)
			continue;
		DcmItem *it = NULL;
		if (ds.findOrCreateSequenceItem(DCM_DisplayedAreaSelectionSequence, it, -2).bad() || !it)
			return;
		if (!uniform)
			for (size_t j = i; j < f->n_images; j++)
				if (f->images[j].rows == im->rows && f->images[j].cols == im->cols &&
				    f->images[j].spacing[0] == im->spacing[0] &&
				    f->images[j].spacing[1] == im->spacing[1])
					add_image_ref(*it, DCM_ReferencedImageSequence, &f->images[j]);
		char brhc[32];
		snprintf(brhc, sizeof brhc, "%u\\%u", im->cols, im->rows);
		put(*it, DCM_DisplayedAreaTopLeftHandCorner, "1\\1");
		put(*it, DCM_DisplayedAreaBottomRightHandCorner, brhc);
		put(*it, DCM_PresentationSizeMode, "SCALE TO FIT");
		/* C.10.4: spacing when known, otherwise square pixels (1:1) */
		if (im->spacing[0] > 0 && im->spacing[1] > 0) {
			char sp[40];
			snprintf(sp, sizeof sp, "%.6g\\%.6g", im->spacing[0], im->spacing[1]);
			put(*it, DCM_PresentationPixelSpacing, sp);
		} else {
			put(*it, DCM_PresentationPixelAspectRatio, "1\\1");
		}
		if (uniform)
			break;
	}
}

/* C.11.8 Softcopy VOI LUT: the source images' own first window, grouped by window. */
void add_voi(DcmDataset &ds, const report_findings *f)
{
	/* one window for all: an item without references applies to every image */
	bool uniform = true;
	for (size_t i = 1; i < f->n_images; i++)
		uniform = uniform && f->images[i].window_width == f->images[0].window_width &&
		          f->images[i].window_center == f->images[0].window_center;
	for (size_t i = 0; i < f->n_images; i++) {
		const report_source_image *im = &f->images[i];
		if (im->window_width <= 0)
			continue;
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			seen = seen || (f->images[j].window_width == im->window_width &&
			                f->images[j].window_center == im->window_center);
		if (seen)
			continue;
		DcmItem *it = NULL;
		if (ds.findOrCreateSequenceItem(DCM_SoftcopyVOILUTSequence, it, -2).bad() || !it)
			return;
		for (size_t j = i; !uniform && j < f->n_images; j++)
			if (f->images[j].window_width == im->window_width &&
			    f->images[j].window_center == im->window_center)
				add_image_ref(*it, DCM_ReferencedImageSequence, &f->images[j]);
		char c[32], w[32];
		snprintf(c, sizeof c, "%.6g", im->window_center);
		snprintf(w, sizeof w, "%.6g", im->window_width);
		put(*it, DCM_WindowCenter, c);
		put(*it, DCM_WindowWidth, w);
	}
}

void label_of(const report_lesion *les, char *buf, size_t n)
{
	const char *type = les->type.value[0] ? les->type.meaning : "Tumour";
	snprintf(buf, n, "%s: %s %d%%", les->tracking_id, type, (int)(les->probability * 100.0 + 0.5));
}

/* C.10.5 Graphic Annotation: one item per image with at least one box. */
void add_annotations(DcmDataset &ds, const report_findings *f)
{
	for (size_t i = 0; i < f->n_images; i++) {
		const report_source_image *im = &f->images[i];
		DcmItem *ann = NULL;
		for (size_t l = 0; l < f->n_lesions; l++) {
			const report_lesion *les = &f->lesions[l];
			for (size_t k = 0; k < les->n_boxes; k++) {
				const report_box *b = &les->boxes[k];
				if (find_image(f, b) != (long)i)
					continue;
				if (!ann) {
					if (ds.findOrCreateSequenceItem(DCM_GraphicAnnotationSequence, ann, -2)
					        .bad() || !ann)
						return;
					add_image_ref(*ann, DCM_ReferencedImageSequence, im);
					put(*ann, DCM_GraphicLayer, LAYER);
				}
				DcmItem *g = NULL;
				if (ann->findOrCreateSequenceItem(DCM_GraphicObjectSequence, g, -2).bad() || !g)
					return;
				put(*g, DCM_GraphicAnnotationUnits, "PIXEL");
				g->putAndInsertUint16(DCM_GraphicDimensions, 2);
				g->putAndInsertUint16(DCM_NumberOfGraphicPoints, 5);
				const Float32 pts[10] = {b->col_min, b->row_min, b->col_max, b->row_min,
				                         b->col_max, b->row_max, b->col_min, b->row_max,
				                         b->col_min, b->row_min};
				g->putAndInsertFloat32Array(DCM_GraphicData, pts, 10);
				put(*g, DCM_GraphicType, "POLYLINE");
				put(*g, DCM_GraphicFilled, "N");

				/* the label: a 12-pixel band above the box, or below it at the top edge */
				DcmItem *t = NULL;
				if (ann->findOrCreateSequenceItem(DCM_TextObjectSequence, t, -2).bad() || !t)
					return;
				char text[160];
				label_of(les, text, sizeof text);
				float x0 = b->col_min, x1 = b->col_min + 120.0f;
				if (x1 > (float)im->cols)
					x1 = (float)im->cols;
				float y0, y1;
				if (b->row_min >= 12.0f) {
					y0 = b->row_min - 12.0f;
					y1 = b->row_min;
				} else {
					y0 = b->row_max;
					y1 = b->row_max + 12.0f > (float)im->rows ? (float)im->rows
					                                          : b->row_max + 12.0f;
				}
				if (y1 <= y0) { /* box fills the image height: label inside its top edge */
					y0 = b->row_min;
					y1 = b->row_max;
				}
				put(*t, DCM_BoundingBoxAnnotationUnits, "PIXEL");
				put(*t, DCM_UnformattedTextValue, text);
				const Float32 tl[2] = {x0, y0}, br[2] = {x1, y1};
				t->putAndInsertFloat32Array(DCM_BoundingBoxTopLeftHandCorner, tl, 2);
				t->putAndInsertFloat32Array(DCM_BoundingBoxBottomRightHandCorner, br, 2);
				put(*t, DCM_BoundingBoxTextHorizontalJustification, "LEFT");
			}
		}
	}
}

} // namespace

extern "C" int report_write_gsps(const struct report_findings *f, const char *out_path, char *err,
                                 size_t errlen)
{
	if (!out_path)
		return fail(err, errlen, REPORT_EINVAL, "no output path");
	int rc = check_findings(f, err, errlen);
	if (rc != 0)
		return rc;
	init_once();

	DcmFileFormat ff;
	DcmDataset &ds = *ff.getDataset();
	const report_study &s = f->study;
	char da[9], tm[7], num[16], series_uid[REPORT_UID_LEN], inst_uid[REPORT_UID_LEN];
	now_da_tm(da, tm);
	copy_str(series_uid, sizeof series_uid, f->gsps_series_instance_uid);
	copy_str(inst_uid, sizeof inst_uid, f->gsps_sop_instance_uid);
	if (!series_uid[0])
		report_new_uid(series_uid);
	if (!inst_uid[0])
		report_new_uid(inst_uid);

	/* SOP Common C.12.1 */
	if (s.specific_character_set[0])
		put(ds, DCM_SpecificCharacterSet, s.specific_character_set);
	put(ds, DCM_SOPClassUID, UID_GrayscaleSoftcopyPresentationStateStorage);
	put(ds, DCM_SOPInstanceUID, inst_uid);
	put(ds, DCM_InstanceCreationDate, da);
	put(ds, DCM_InstanceCreationTime, tm);
	/* Patient C.7.1.1, General Study C.7.2.1: copied from the source */
	put(ds, DCM_PatientName, s.patient_name);
	put(ds, DCM_PatientID, s.patient_id);
	put(ds, DCM_PatientBirthDate, s.patient_birth_date);
	put(ds, DCM_PatientSex, s.patient_sex);
	put(ds, DCM_StudyInstanceUID, s.study_instance_uid);
	put(ds, DCM_StudyDate, s.study_date);
	put(ds, DCM_StudyTime, s.study_time);
	put(ds, DCM_ReferringPhysicianName, s.referring_physician);
	put(ds, DCM_StudyID, s.study_id);
	put(ds, DCM_AccessionNumber, s.accession_number);
	if (s.study_description[0])
		put(ds, DCM_StudyDescription, s.study_description);
	/* General Series C.7.3.1 + Presentation Series C.11.9 */
	put(ds, DCM_Modality, "PR");
	put(ds, DCM_SeriesInstanceUID, series_uid);
	snprintf(num, sizeof num, "%d", f->gsps_series_number > 0 ? f->gsps_series_number : 901);
	put(ds, DCM_SeriesNumber, num);
	put(ds, DCM_SeriesDescription, "AI tumour detection boxes");
	/* Laterality is 2C (paired body parts); the brain is unpaired, but dciodvfy cannot tell
	 * and reports its absence as an error, so it is sent empty (DICOM-FACTS 3.2). */
	put(ds, DCM_Laterality, "");
	/* General Equipment C.7.5.1 */
	put(ds, DCM_Manufacturer, f->device_manufacturer);
	if (f->device_model_name[0])
		put(ds, DCM_ManufacturerModelName, f->device_model_name);
	put(ds, DCM_SoftwareVersions, f->algorithm_version);
	/* Presentation State Identification C.11.10 */
	put(ds, DCM_InstanceNumber, "1");
	put(ds, DCM_ContentLabel, "AI_TUMOUR");
	put(ds, DCM_ContentDescription, "Boxes of automatically detected lesions");
	put(ds, DCM_PresentationCreationDate, da);
	put(ds, DCM_PresentationCreationTime, tm);
	put(ds, DCM_ContentCreatorName, "");
	add_relationship(ds, f);
	add_displayed_area(ds, f);
	/* Softcopy Presentation LUT C.11.6 (MONOCHROME2 output) */
	put(ds, DCM_PresentationLUTShape, "IDENTITY");
	add_voi(ds, f);
	/* Graphic Layer C.10.7 */
	DcmItem *layer = NULL;
	if (ds.findOrCreateSequenceItem(DCM_GraphicLayerSequence, layer, -2).good() && layer) {
		put(*layer, DCM_GraphicLayer, LAYER);
		put(*layer, DCM_GraphicLayerOrder, "1");
		layer->putAndInsertUint16(DCM_GraphicLayerRecommendedDisplayGrayscaleValue, 0xffff);
		put(*layer, DCM_GraphicLayerDescription, "AI findings");
	}
	if (f->n_lesions > 0)
		add_annotations(ds, f);

	/* In-process check: dcmtk's presentation state reader, as dcmpschk uses it. */
	DcmPresentationState check;
	OFCondition c = check.read(ds);
	if (c.bad())
		return fail(err, errlen, REPORT_EINVALID, "GSPS check: %s", c.text());
	return save_file(ff, out_path, err, errlen);
}
