/* sample.c: the findings behind the report tests (see sample.h). UIDs use the 2.25 root so
 * that they are valid and distinct; study attributes mimic what the caller copies. */
#include "sample.h"

#include <stdio.h>
#include <string.h>

void sample_fill(struct sample *s, int with_lesions)
{
	memset(s, 0, sizeof *s);
	struct report_findings *f = &s->f;
	strcpy(f->study.patient_name, "Test^Patient");
	strcpy(f->study.patient_id, "PID0001");
	strcpy(f->study.patient_birth_date, "19700101");
	strcpy(f->study.patient_sex, "F");
	strcpy(f->study.study_instance_uid, "2.25.1000001");
	strcpy(f->study.study_date, "20260101");
	strcpy(f->study.study_time, "120000");
	strcpy(f->study.study_id, "S1");
	strcpy(f->study.accession_number, "ACC1");
	strcpy(f->study.study_description, "MR brain");
	for (int i = 0; i < SAMPLE_N_IMAGES; i++) {
		struct report_source_image *im = &s->images[i];
		strcpy(im->sop_class_uid, "1.2.840.10008.5.1.4.1.1.4");
		snprintf(im->sop_instance_uid, sizeof im->sop_instance_uid, "2.25.3000%d", i + 1);
		strcpy(im->series_instance_uid, "2.25.2000001");
		im->rows = 256;
		im->cols = 256;
		im->window_center = 600;
		im->window_width = 1600;
	}
	f->images = s->images;
	f->n_images = SAMPLE_N_IMAGES;
	strcpy(f->algorithm_name, "BrainTumourCNN");
	strcpy(f->algorithm_version, "1.4.0");
	strcpy(f->device_observer_uid, "2.25.9000001");
	strcpy(f->device_observer_name, "dicomaid");
	strcpy(f->device_manufacturer, "dicomaid project");
	strcpy(f->device_model_name, "dicomaid-cnn");
	if (!with_lesions)
		return;
	/* lesion 1 on slices 1..3 (0-based), typed; lesion 2 on slices 3..5, untyped */
	for (int l = 0; l < SAMPLE_N_LESIONS; l++) {
		struct report_lesion *les = &s->lesions[l];
		snprintf(les->tracking_id, sizeof les->tracking_id, "Lesion %d", l + 1);
		snprintf(les->tracking_uid, sizeof les->tracking_uid, "2.25.4000%d", l + 1);
		les->probability = l == 0 ? 0.93 : 0.71;
		les->size_mm = l == 0 ? 24.5 : 11.0;
		les->volume_mm3 = l == 0 ? 5123.4 : 612.0;
		for (int k = 0; k < SAMPLE_BOXES; k++) {
			struct report_box *b = &s->boxes[l][k];
			int slice = 1 + 2 * l + k;
			strcpy(b->sop_instance_uid, s->images[slice].sop_instance_uid);
			b->col_min = (float)(40 + 100 * l + k);
			b->row_min = (float)(50 + 60 * l);
			b->col_max = b->col_min + 30.0f;
			b->row_max = b->row_min + 25.0f;
		}
		les->boxes = s->boxes[l];
		les->n_boxes = SAMPLE_BOXES;
	}
	strcpy(s->lesions[0].type.value, "302820008");
	strcpy(s->lesions[0].type.scheme, "SCT");
	strcpy(s->lesions[0].type.meaning, "Intracranial meningioma");
	f->lesions = s->lesions;
	f->n_lesions = SAMPLE_N_LESIONS;
}
