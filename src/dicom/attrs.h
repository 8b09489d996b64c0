/*
 * The attributes dicomaid indexes for every stored instance, picked out of the data set by
 * the streaming parser while it is written to disk (see dicom/parser.h). Values are the
 * element's text with trailing spaces/NULs removed; binary VRs (US) are rendered as decimal
 * text; multi-valued strings keep their backslashes. An absent element is an empty string.
 * Sizes leave room for the longest legal value of each VR (PS3.5 6.2) plus the NUL; a longer
 * value is truncated and `truncated` is set.
 */
#ifndef DICOMAID_DICOM_ATTRS_H
#define DICOMAID_DICOM_ATTRS_H

#include <stdbool.h>

#define DCM_UID_MAX 64

struct dcm_attrs {
	char specific_charset[65];     /* (0008,0005) CS, multi-valued */
	/* Patient */
	char patient_id[65];           /* (0010,0020) LO */
	char patient_name[325];        /* (0010,0010) PN: up to 5 groups of 64 chars */
	char patient_birth_date[9];    /* (0010,0030) DA */
	char patient_sex[17];          /* (0010,0040) CS */
	/* Study */
	char study_uid[DCM_UID_MAX + 1];  /* (0020,000D) UI */
	char study_date[9];            /* (0008,0020) DA */
	char study_time[17];           /* (0008,0030) TM */
	char study_description[65];    /* (0008,1030) LO */
	char accession_number[17];     /* (0008,0050) SH */
	char study_id[17];             /* (0020,0010) SH */
	/* Series */
	char series_uid[DCM_UID_MAX + 1]; /* (0020,000E) UI */
	char series_number[13];        /* (0020,0011) IS */
	char modality[17];             /* (0008,0060) CS */
	char series_description[65];   /* (0008,103E) LO */
	/* Instance */
	char sop_instance_uid[DCM_UID_MAX + 1]; /* (0008,0018) UI */
	char sop_class_uid[DCM_UID_MAX + 1];    /* (0008,0016) UI */
	char instance_number[13];      /* (0020,0013) IS */
	char rows[6];                  /* (0028,0010) US, as decimal text */
	char columns[6];               /* (0028,0011) US, as decimal text */
	char number_of_frames[13];     /* (0028,0008) IS */
	char image_position[197];      /* (0020,0032) DS, 3 values */
	char image_orientation[397];   /* (0020,0037) DS, 6 values */
	char pixel_spacing[133];       /* (0028,0030) DS, 2 values */
	char slice_thickness[17];      /* (0018,0050) DS */
	char images_in_acquisition[13]; /* (0020,1002) IS: the series is complete at this count */
	bool truncated;                /* some value did not fit its field */
};

#endif
