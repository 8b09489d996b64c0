/* sr.cc: the analysis result as a Comprehensive 3D SR (PS3.3 A.35.13) with root template
 * TID 1500 "Imaging Measurement Report" (PS3.16 Annex A; DICOM-FACTS section 1).
 *
 * The TID 1500 frame (title, TID 1204 language, TID 1001/1004 device observer, Procedure
 * reported, TID 1600 Image Library) comes from dcmtk's cmr templates. dcmtk 3.6.7 has no planar
 * or multi-slice ROI group, so each lesion's group is added through the generic tree API under
 * "Imaging Measurements" and marked with TID 1411 (Volumetric ROI Measurements and Qualitative
 * Evaluations): one group per lesion holding one "Image Region" SCOORD (closed 5-point POLYLINE,
 * SELECTED FROM the exact image, PS3.3 C.18.6) per slice the lesion spans, which TID 1411 allows
 * 1-n times (TID 1410 allows only one region). A series without lesions gets the explicit
 * negative result under "Qualitative Evaluations" (TID 1500 row 12/13) and no group.
 * Before anything is written, the encoded data set is read back strictly by dcmtk and every
 * IMAGE reference is checked against the Current Requested Procedure Evidence Sequence. */
#include "report/report_impl.hh"

#include <dcmtk/dcmdata/dcuid.h>
#include <dcmtk/dcmsr/codes/dcm.h>
#include <dcmtk/dcmsr/codes/sct.h>
#include <dcmtk/dcmsr/codes/ucum.h>
#include <dcmtk/dcmsr/codes/umls.h>
#include <dcmtk/dcmsr/cmr/tid1500.h>
#include <dcmtk/dcmsr/dsrdoc.h>

#include <stdio.h>
#include <string.h>

using namespace report_impl;

namespace {

#define SR_CLASS_UID UID_Comprehensive3DSRStorage /* 1.2.840.10008.5.1.4.1.1.88.34 */

/* Codes of DICOM-FACTS 1.6 that dcmtk's code headers do not define. */
const DSRCodedEntryValue code_neoplasm_of_brain("126952004", "SCT", "Neoplasm of brain");
const DSRCodedEntryValue code_brain("12738006", "SCT", "Brain");
const DSRCodedEntryValue code_long_axis("103339001", "SCT", "Long Axis");
const DSRCodedEntryValue code_volume("118565006", "SCT", "Volume");
const DSRCodedEntryValue code_brain_mri("24590-2", "LN", "Brain MRI");
const DSRCodedEntryValue unit_percent("%", "UCUM", "Percent");
const DSRCodedEntryValue unit_mm("mm", "UCUM", "millimeter");
const DSRCodedEntryValue unit_mm3("mm3", "UCUM", "cubic millimeter");
const DSRCodedEntryValue code_processing("109102", "DCM", "Processing Equipment");

/* A failed dcmtk call: record where, and stop building. */
struct Builder {
	char *err;
	size_t errlen;
	int rc;
	bool ok(const OFCondition &c, const char *what)
	{
		if (rc == 0 && c.bad())
			rc = fail(err, errlen, REPORT_EINVALID, "SR: %s: %s", what, c.text());
		return rc == 0;
	}
	bool ok(size_t node, const char *what)
	{
		if (rc == 0 && node == 0)
			rc = fail(err, errlen, REPORT_EINVALID, "SR: cannot add %s", what);
		return rc == 0;
	}
};

DSRCodedEntryValue code_of(const report_code &c, const DSRCodedEntryValue &dflt)
{
	if (!c.value[0])
		return dflt;
	return DSRCodedEntryValue(c.value, c.scheme, c.meaning);
}

/* DS value (PS3.5 6.2: at most 16 characters). */
OFString ds(double v)
{
	char buf[32];
	for (int prec = 10; prec > 1; prec--) {
		snprintf(buf, sizeof buf, "%.*g", prec, v);
		if (strlen(buf) <= 16)
			break;
	}
	return OFString(buf);
}

/* Adds an item as a child (first == true) or next sibling of the cursor; cursor moves to it. */
size_t add(DSRDocumentTree &t, bool first, DSRTypes::E_RelationshipType rel,
           DSRTypes::E_ValueType vt, const DSRCodedEntryValue *name)
{
	size_t id = t.addContentItem(rel, vt, first ? DSRTypes::AM_belowCurrent
	                                            : DSRTypes::AM_afterCurrent);
	if (id && name && t.getCurrentContentItem().setConceptName(*name).bad())
		return 0;
	return id;
}

/* The tree of one lesion group under the current node (Imaging Measurements). */
void add_group(Builder &b, DSRDocumentTree &t, const report_findings *f, const report_lesion *les,
               bool first)
{
	DSRCodedEntryValue group_name(CODE_DCM_MeasurementGroup), track_id(CODE_DCM_TrackingIdentifier),
	    track_uid(CODE_DCM_TrackingUniqueIdentifier), finding(CODE_DCM_Finding),
	    site(CODE_SCT_FindingSite), alg_name(CODE_DCM_AlgorithmName),
	    alg_version(CODE_DCM_AlgorithmVersion), region(CODE_DCM_ImageRegion),
	    certainty(CODE_DCM_CertaintyOfFinding);

	size_t group = add(t, first, DSRTypes::RT_contains, DSRTypes::VT_Container, &group_name);
	if (!b.ok(group, "Measurement Group"))
		return;
	DSRContentItem &g = t.getCurrentContentItem();
	if (!b.ok(g.setContinuityOfContent(DSRTypes::COC_Separate), "group continuity") ||
	    !b.ok(g.setTemplateIdentification("1411", "DCMR"), "group template"))
		return;
	/* TID 1411 rows 2-3: tracking identifier and UID, same for every slice of the lesion. */
	if (!b.ok(add(t, true, DSRTypes::RT_hasObsContext, DSRTypes::VT_Text, &track_id),
	          "Tracking Identifier") ||
	    !b.ok(t.getCurrentContentItem().setStringValue(les->tracking_id), "Tracking Identifier"))
		return;
	if (!b.ok(add(t, false, DSRTypes::RT_hasObsContext, DSRTypes::VT_UIDRef, &track_uid),
	          "Tracking Unique Identifier") ||
	    !b.ok(t.getCurrentContentItem().setStringValue(les->tracking_uid),
	          "Tracking Unique Identifier"))
		return;
	/* row 3b: Finding = the tumour type (CID 7151-style SNOMED CT concept). */
	if (!b.ok(add(t, false, DSRTypes::RT_contains, DSRTypes::VT_Code, &finding), "Finding") ||
	    !b.ok(t.getCurrentContentItem().setCodeValue(code_of(les->type, code_neoplasm_of_brain)),
	          "Finding value"))
		return;
	/* Image Region: one closed 5-point POLYLINE per slice, (column,row) pairs (C.18.6.1.1). */
	for (size_t k = 0; k < les->n_boxes; k++) {
		const report_box *bx = &les->boxes[k];
		const report_source_image *im = &f->images[find_image(f, bx)];
		if (!b.ok(add(t, false, DSRTypes::RT_contains, DSRTypes::VT_SCoord, &region),
		          "Image Region"))
			return;
		size_t scoord = t.getNodeID();
		DSRSpatialCoordinatesValue sc(DSRTypes::GT_Polyline);
		DSRGraphicDataList &gd = sc.getGraphicDataList();
		gd.addItem(bx->col_min, bx->row_min);
		gd.addItem(bx->col_max, bx->row_min);
		gd.addItem(bx->col_max, bx->row_max);
		gd.addItem(bx->col_min, bx->row_max);
		gd.addItem(bx->col_min, bx->row_min);
		if (!b.ok(t.getCurrentContentItem().setSpatialCoordinates(sc), "Image Region value"))
			return;
		if (!b.ok(add(t, true, DSRTypes::RT_selectedFrom, DSRTypes::VT_Image, NULL),
		          "SELECTED FROM IMAGE"))
			return;
		DSRImageReferenceValue ref(im->sop_class_uid, im->sop_instance_uid);
		if (im->frame > 0)
			ref.getFrameList().addItem((Sint32)im->frame);
		if (!b.ok(t.getCurrentContentItem().setImageReference(ref), "image reference"))
			return;
		if (!b.ok(t.gotoNode(scoord), "SCOORD cursor"))
			return;
	}
	/* TID 1419 row 2: Finding Site = brain. */
	if (!b.ok(add(t, false, DSRTypes::RT_hasConceptMod, DSRTypes::VT_Code, &site), "Finding Site") ||
	    !b.ok(t.getCurrentContentItem().setCodeValue(code_brain), "Finding Site value"))
		return;
	/* TID 4019: Algorithm Name and Version at group level. */
	if (!b.ok(add(t, false, DSRTypes::RT_hasConceptMod, DSRTypes::VT_Text, &alg_name),
	          "Algorithm Name") ||
	    !b.ok(t.getCurrentContentItem().setStringValue(f->algorithm_name), "Algorithm Name"))
		return;
	if (!b.ok(add(t, false, DSRTypes::RT_hasConceptMod, DSRTypes::VT_Text, &alg_version),
	          "Algorithm Version") ||
	    !b.ok(t.getCurrentContentItem().setStringValue(f->algorithm_version), "Algorithm Version"))
		return;
	/* TID 1419 measurements: size, volume, certainty, with UCUM units (CID 7181). */
	struct {
		const DSRCodedEntryValue *name;
		double value;
		const DSRCodedEntryValue *unit;
	} nums[3] = {{&code_long_axis, les->size_mm, &unit_mm},
	             {&code_volume, les->volume_mm3, &unit_mm3},
	             {&certainty, les->probability * 100.0, &unit_percent}};
	for (int i = 0; i < 3; i++) {
		if (nums[i].value < 0)
			continue;
		if (!b.ok(add(t, false, DSRTypes::RT_contains, DSRTypes::VT_Num, nums[i].name),
		          "measurement"))
			return;
		DSRNumericMeasurementValue nv(ds(nums[i].value), *nums[i].unit);
		if (!b.ok(t.getCurrentContentItem().setNumericValue(nv), "measurement value"))
			return;
	}
	t.gotoNode(group);
}

/* A minimal image data set for TID 1600's descriptor extraction. */
void image_item(DcmItem &it, const report_source_image *im)
{
	put(it, DCM_SOPClassUID, im->sop_class_uid);
	put(it, DCM_SOPInstanceUID, im->sop_instance_uid);
	if (strncmp(im->sop_class_uid, UID_MRImageStorage, strlen(UID_MRImageStorage)) == 0)
		put(it, DCM_Modality, "MR");
	it.putAndInsertUint16(DCM_Rows, (Uint16)im->rows);
	it.putAndInsertUint16(DCM_Columns, (Uint16)im->cols);
}

/* Every IMAGE item of the tree must be listed in the evidence (PS3.3 C.17.2.3). */
int check_evidence(DSRDocument &doc, char *err, size_t errlen, size_t *scoords)
{
	DSRDocumentTree &t = doc.getTree();
	*scoords = 0;
	if (t.gotoRoot() == 0)
		return fail(err, errlen, REPORT_EINVALID, "SR check: empty tree");
	do {
		DSRContentItem &it = t.getCurrentContentItem();
		if (it.getValueType() == DSRTypes::VT_SCoord)
			(*scoords)++;
		if (it.getValueType() != DSRTypes::VT_Image)
			continue;
		const DSRImageReferenceValue &ref = it.getImageReference();
		if (doc.getCurrentRequestedProcedureEvidence()
		        .gotoItem(ref.getSOPClassUID(), ref.getSOPInstanceUID()).bad())
			return fail(err, errlen, REPORT_EINVALID,
			            "SR check: image %s is referenced but not in the evidence",
			            ref.getSOPInstanceUID().c_str());
	} while (t.iterate());
	return 0;
}

void add_contributing_equipment(DcmDataset &ds, const report_findings *f, const char *dt)
{
	DcmItem *eq = NULL;
	if (ds.findOrCreateSequenceItem(DCM_ContributingEquipmentSequence, eq, -2).bad() || !eq)
		return;
	DcmItem *purpose = NULL;
	if (eq->findOrCreateSequenceItem(DCM_PurposeOfReferenceCodeSequence, purpose, -2).good() &&
	    purpose) {
		put(*purpose, DCM_CodeValue, code_processing.getCodeValue().c_str());
		put(*purpose, DCM_CodingSchemeDesignator, "DCM");
		put(*purpose, DCM_CodeMeaning, code_processing.getCodeMeaning().c_str());
	}
	put(*eq, DCM_Manufacturer, f->device_manufacturer);
	put(*eq, DCM_ManufacturerModelName, f->algorithm_name);
	put(*eq, DCM_SoftwareVersions, f->algorithm_version);
	put(*eq, DCM_ContributionDateTime, dt);
	put(*eq, DCM_ContributionDescription, "Processing Algorithm: automated tumour detection");
}

} // namespace

extern "C" int report_write_sr(const struct report_findings *f, const char *out_path, char *err,
                               size_t errlen)
{
	if (!out_path)
		return fail(err, errlen, REPORT_EINVAL, "no output path");
	int rc = check_findings(f, err, errlen);
	if (rc != 0)
		return rc;
	init_once();
	Builder b = {err, errlen, 0};

	/* TID 1500 frame. */
	TID1500_MeasurementReport report(CMR_CID7021::ImagingMeasurementReport);
	b.ok(report.setLanguage(CID5000_Languages(CID5000_Languages::English_US)), "language");
	if (b.rc == 0)
		b.ok(report.getObservationContext().addDeviceObserver(
		         f->device_observer_uid, f->device_observer_name, f->device_manufacturer,
		         f->device_model_name),
		     "device observer");
	b.ok(report.addProcedureReported(
	         CMR_CID100(code_of(f->procedure, code_brain_mri))),
	     "procedure reported");
	TID1600_ImageLibrary &lib = report.getImageLibrary();
	b.ok(lib.createNewImageLibrary(), "image library");
	/* one Image Library Group per series, in first-seen order */
	for (size_t i = 0; b.rc == 0 && i < f->n_images; i++) {
		bool seen = false;
		for (size_t j = 0; j < i; j++)
			if (strcmp(f->images[j].series_instance_uid, f->images[i].series_instance_uid) == 0)
				seen = true;
		if (seen)
			continue;
		b.ok(lib.addImageGroup(), "image library group");
		for (size_t j = i; b.rc == 0 && j < f->n_images; j++) {
			if (strcmp(f->images[j].series_instance_uid, f->images[i].series_instance_uid) != 0)
				continue;
			/* one entry per instance: the frames of a multi-frame image share it */
			bool dup = false;
			for (size_t k = 0; k < j; k++)
				dup = dup || strcmp(f->images[k].sop_instance_uid,
				                    f->images[j].sop_instance_uid) == 0;
			if (dup)
				continue;
			DcmItem it;
			image_item(it, &f->images[j]);
			b.ok(lib.addImageEntry(it, TID1600_ImageLibrary::withAllDescriptors),
			     "image library entry");
		}
	}
	if (b.rc == 0)
		b.ok(lib.moveCommonImageDescriptorsToImageGroups(), "image library descriptors");
	if (b.rc == 0 && f->n_lesions == 0)
		b.ok(report.addQualitativeEvaluation(DSRCodedEntryValue(CODE_DCM_Finding),
		                                     DSRCodedEntryValue(CODE_DCM_NoAbnormality)),
		     "negative finding");
	if (b.rc != 0)
		return b.rc;

	DSRDocument doc;
	b.ok(doc.setTreeFromRootTemplate(report, OFTrue /* expand */), "document tree");
	const DSRTypes::E_DocumentType type = f->sr_comprehensive_2d ? DSRTypes::DT_ComprehensiveSR
	                                                             : DSRTypes::DT_Comprehensive3DSR;
	b.ok(doc.changeDocumentType(type), "document type");
	DSRDocumentTree &tree = doc.getTree();
	if (b.rc == 0 && f->n_lesions > 0) {
		size_t im = tree.gotoNamedNode(DSRCodedEntryValue(CODE_DCM_ImagingMeasurements));
		b.ok(im, "Imaging Measurements");
		bool first = !tree.hasChildNodes();
		for (size_t l = 0; b.rc == 0 && l < f->n_lesions; l++) {
			add_group(b, tree, f, &f->lesions[l], first);
			first = false;
		}
	} else if (b.rc == 0) {
		/* negative report: the empty "Imaging Measurements" container is dropped */
		if (tree.gotoNamedNode(DSRCodedEntryValue(CODE_DCM_ImagingMeasurements)) > 0 &&
		    !tree.hasChildNodes())
			tree.removeCurrentContentItem();
	}
	if (b.rc != 0)
		return b.rc;

	/* Document header (PS3.3 C.7.1.1, C.7.2.1, C.17.1, C.17.2, C.7.5.1). */
	const report_study &s = f->study;
	char da[9], tm[7];
	now_da_tm(da, tm);
	if (s.specific_character_set[0])
		b.ok(doc.setSpecificCharacterSet(s.specific_character_set, OFFalse), "character set");
	b.ok(doc.createNewSeriesInStudy(s.study_instance_uid), "series");
	b.ok(doc.setPatientName(s.patient_name, OFFalse), "Patient's Name");
	b.ok(doc.setPatientID(s.patient_id, OFFalse), "Patient ID");
	b.ok(doc.setPatientBirthDate(s.patient_birth_date, OFFalse), "Patient's Birth Date");
	b.ok(doc.setPatientSex(s.patient_sex, OFFalse), "Patient's Sex");
	b.ok(doc.setStudyDate(s.study_date, OFFalse), "Study Date");
	b.ok(doc.setStudyTime(s.study_time, OFFalse), "Study Time");
	b.ok(doc.setReferringPhysicianName(s.referring_physician, OFFalse), "Referring Physician");
	b.ok(doc.setStudyID(s.study_id, OFFalse), "Study ID");
	b.ok(doc.setAccessionNumber(s.accession_number, OFFalse), "Accession Number");
	b.ok(doc.setStudyDescription(s.study_description, OFFalse), "Study Description");
	b.ok(doc.setSeriesDescription("AI tumour detection"), "Series Description");
	char num[16];
	snprintf(num, sizeof num, "%d", f->sr_series_number > 0 ? f->sr_series_number : 900);
	b.ok(doc.setSeriesNumber(num), "Series Number");
	b.ok(doc.setInstanceNumber("1"), "Instance Number");
	b.ok(doc.setManufacturer(f->device_manufacturer), "Manufacturer");
	if (f->device_model_name[0])
		b.ok(doc.setManufacturerModelName(f->device_model_name), "Model Name");
	b.ok(doc.setSoftwareVersions(f->algorithm_version), "Software Versions");
	b.ok(doc.setContentDate(da), "Content Date");
	b.ok(doc.setContentTime(tm), "Content Time");
	/* Evidence: every image analysed, grouped by study/series by dcmtk (C.17.2.3); the
	 * frames of one multi-frame instance are one reference. */
	for (size_t i = 0; b.rc == 0 && i < f->n_images; i++)
		if (doc.getCurrentRequestedProcedureEvidence()
		        .gotoItem(f->images[i].sop_class_uid, f->images[i].sop_instance_uid).bad())
			b.ok(doc.getCurrentRequestedProcedureEvidence().addItem(
		         s.study_instance_uid, f->images[i].series_instance_uid,
		         f->images[i].sop_class_uid, f->images[i].sop_instance_uid),
		     "evidence");
	if (b.rc == 0 && f->predecessor_sop_instance_uid[0])
		b.ok(doc.getPredecessorDocuments().addItem(
		         f->predecessor_study_instance_uid[0] ? f->predecessor_study_instance_uid
		                                              : s.study_instance_uid,
		         f->predecessor_series_instance_uid,
		         f->predecessor_sop_class_uid[0] ? f->predecessor_sop_class_uid : SR_CLASS_UID,
		         f->predecessor_sop_instance_uid),
		     "predecessor");
	b.ok(doc.completeDocument(), "completion flag");
	if (b.rc != 0)
		return b.rc;
	if (!report.isValid())
		return fail(err, errlen, REPORT_EINVALID, "SR check: TID 1500 frame is incomplete");
	if (!doc.isValid())
		return fail(err, errlen, REPORT_EINVALID, "SR check: document is not valid");

	DcmFileFormat ff;
	DcmDataset &dset = *ff.getDataset();
	if (!b.ok(doc.write(dset), "encode"))
		return b.rc;
	/* Given or fresh identity; dcmtk generated its own, replaced here before the check. */
	char series_uid[REPORT_UID_LEN], inst_uid[REPORT_UID_LEN];
	copy_str(series_uid, sizeof series_uid, f->sr_series_instance_uid);
	copy_str(inst_uid, sizeof inst_uid, f->sr_sop_instance_uid);
	if (!series_uid[0])
		report_new_uid(series_uid);
	if (!inst_uid[0])
		report_new_uid(inst_uid);
	put(dset, DCM_SeriesInstanceUID, series_uid);
	put(dset, DCM_SOPInstanceUID, inst_uid);
	char dt[15];
	snprintf(dt, sizeof dt, "%s%s", da, tm);
	add_contributing_equipment(dset, f, dt);

	/* Strict read-back of exactly what will be stored. */
	DSRDocument check;
	OFCondition c = check.read(dset);
	if (c.bad())
		return fail(err, errlen, REPORT_EINVALID, "SR check: read-back failed: %s", c.text());
	if (check.getDocumentType() != type || !check.isValid())
		return fail(err, errlen, REPORT_EINVALID, "SR check: read-back document not valid");
	size_t scoords = 0, want = 0;
	rc = check_evidence(check, err, errlen, &scoords);
	if (rc != 0)
		return rc;
	for (size_t l = 0; l < f->n_lesions; l++)
		want += f->lesions[l].n_boxes;
	if (scoords != want)
		return fail(err, errlen, REPORT_EINVALID, "SR check: %zu SCOORDs for %zu boxes", scoords,
		            want);
	return save_file(ff, out_path, err, errlen);
}
