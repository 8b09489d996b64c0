/*
 * The key table of the Query/Retrieve information models (PS3.4 C.6.1.1 Patient Root, C.6.2.1
 * Study Root; DICOM-FACTS.md 4.8): for each attribute dicomaid knows as a key, its level, whether
 * it is a unique or required key, and the SQL expression over the index (sql/001_init.sql) that
 * returns it. Aliases: p patients, st studies, se series, i instances. Keys with no expression
 * are known (so a key of the wrong level is recognised and refused) but not held by the index:
 * they are returned empty. Pure static data.
 */
#include "query/internal.h"

#include <stddef.h>

#define T(g, e) ((uint32_t)(g) << 16 | (uint32_t)(e))

/* Sorted by tag (binary search). */
static const struct qkey_def defs[] = {
	{T(0x0008, 0x0005), "CS", QUERY_PATIENT, QK_ANYLEVEL, QM_SPECIAL, NULL},
	{T(0x0008, 0x0016), "UI", QUERY_IMAGE, 0, QM_UID, "i.sop_class_uid"},
	{T(0x0008, 0x0018), "UI", QUERY_IMAGE, QK_UNIQUE, QM_UID, "i.sop_instance_uid"},
	{T(0x0008, 0x0020), "DA", QUERY_STUDY, QK_REQUIRED, QM_DATE, "st.study_date"},
	{T(0x0008, 0x0021), "DA", QUERY_SERIES, 0, QM_NONE, NULL},   /* Series Date */
	{T(0x0008, 0x0023), "DA", QUERY_IMAGE, 0, QM_SR, NULL},      /* Content Date */
	{T(0x0008, 0x0030), "TM", QUERY_STUDY, QK_REQUIRED, QM_TIME, "st.study_time"},
	{T(0x0008, 0x0031), "TM", QUERY_SERIES, 0, QM_NONE, NULL},   /* Series Time */
	{T(0x0008, 0x0033), "TM", QUERY_IMAGE, 0, QM_SR, NULL},      /* Content Time */
	{T(0x0008, 0x0050), "SH", QUERY_STUDY, QK_REQUIRED, QM_TEXT, "st.accession"},
	{T(0x0008, 0x0052), "CS", QUERY_PATIENT, QK_ANYLEVEL, QM_SPECIAL, NULL},
	/* Retrieve AE Title, Instance Availability (PS3.4 C.4.1.1.3.2): every level */
	{T(0x0008, 0x0054), "AE", QUERY_PATIENT, QK_ANYLEVEL, QM_SPECIAL, NULL},
	{T(0x0008, 0x0056), "CS", QUERY_PATIENT, QK_ANYLEVEL, QM_NONE, "'ONLINE'"},
	{T(0x0008, 0x0060), "CS", QUERY_SERIES, QK_REQUIRED, QM_TEXT, "se.modality"},
	{T(0x0008, 0x0061), "CS", QUERY_STUDY, 0, QM_MODALITIES,
	 "(SELECT group_concat(m, '\\') FROM (SELECT DISTINCT x.modality AS m FROM series x "
	 "WHERE x.study_ref = st.id AND x.modality IS NOT NULL ORDER BY 1))"},
	{T(0x0008, 0x0062), "UI", QUERY_STUDY, 0, QM_SOPCLASSES,
	 "(SELECT group_concat(c, '\\') FROM (SELECT DISTINCT y.sop_class_uid AS c FROM series x "
	 "JOIN instances y ON y.series_ref = x.id WHERE x.study_ref = st.id "
	 "AND y.sop_class_uid IS NOT NULL ORDER BY 1))"},
	{T(0x0008, 0x0090), "PN", QUERY_STUDY, 0, QM_NONE, NULL},    /* Referring Physician */
	{T(0x0008, 0x0201), "SH", QUERY_PATIENT, QK_ANYLEVEL, QM_SPECIAL, NULL}, /* Timezone */
	{T(0x0008, 0x1030), "LO", QUERY_STUDY, 0, QM_TEXT, "st.description"},
	{T(0x0008, 0x103E), "LO", QUERY_SERIES, 0, QM_TEXT, "se.description"},
	{T(0x0010, 0x0010), "PN", QUERY_PATIENT, QK_REQUIRED, QM_TEXT, "p.name"},
	{T(0x0010, 0x0020), "LO", QUERY_PATIENT, QK_UNIQUE, QM_TEXT, "p.patient_id"},
	{T(0x0010, 0x0021), "LO", QUERY_PATIENT, 0, QM_NONE, NULL},  /* Issuer of Patient ID */
	{T(0x0010, 0x0030), "DA", QUERY_PATIENT, 0, QM_DATE, "p.birth_date"},
	{T(0x0010, 0x0040), "CS", QUERY_PATIENT, 0, QM_TEXT, "p.sex"},
	{T(0x0010, 0x1010), "AS", QUERY_STUDY, 0, QM_NONE, NULL},    /* Patient's Age */
	{T(0x0020, 0x000D), "UI", QUERY_STUDY, QK_UNIQUE, QM_UID, "st.study_uid"},
	{T(0x0020, 0x000E), "UI", QUERY_SERIES, QK_UNIQUE, QM_UID, "se.series_uid"},
	{T(0x0020, 0x0010), "SH", QUERY_STUDY, QK_REQUIRED, QM_TEXT, "st.study_id"},
	{T(0x0020, 0x0011), "IS", QUERY_SERIES, QK_REQUIRED, QM_INT, "se.number"},
	{T(0x0020, 0x0013), "IS", QUERY_IMAGE, QK_REQUIRED, QM_INT, "i.instance_number"},
	{T(0x0020, 0x1200), "IS", QUERY_PATIENT, 0, QM_NONE,
	 "(SELECT count(*) FROM studies a WHERE a.patient_ref = p.id)"},
	{T(0x0020, 0x1202), "IS", QUERY_PATIENT, 0, QM_NONE,
	 "(SELECT count(*) FROM studies a JOIN series x ON x.study_ref = a.id "
	 "WHERE a.patient_ref = p.id)"},
	{T(0x0020, 0x1204), "IS", QUERY_PATIENT, 0, QM_NONE,
	 "(SELECT count(*) FROM studies a JOIN series x ON x.study_ref = a.id "
	 "JOIN instances y ON y.series_ref = x.id WHERE a.patient_ref = p.id)"},
	{T(0x0020, 0x1206), "IS", QUERY_STUDY, 0, QM_NONE,
	 "(SELECT count(*) FROM series x WHERE x.study_ref = st.id)"},
	{T(0x0020, 0x1208), "IS", QUERY_STUDY, 0, QM_NONE,
	 "(SELECT count(*) FROM series x JOIN instances y ON y.series_ref = x.id "
	 "WHERE x.study_ref = st.id)"},
	{T(0x0020, 0x1209), "IS", QUERY_SERIES, 0, QM_NONE,
	 "(SELECT count(*) FROM instances y WHERE y.series_ref = se.id)"},
	{T(0x0028, 0x0008), "IS", QUERY_IMAGE, 0, QM_INT, "i.frames"},
	{T(0x0028, 0x0010), "US", QUERY_IMAGE, 0, QM_INT, "i.rows"},
	{T(0x0028, 0x0011), "US", QUERY_IMAGE, 0, QM_INT, "i.columns"},
	/* SR document keys (PS3.4 C.6.1.1.5.1): not in the index, read from SR files */
	{T(0x0040, 0xA043), "SQ", QUERY_IMAGE, 0, QM_SR, NULL},      /* Concept Name Code Seq */
	{T(0x0040, 0xA491), "CS", QUERY_IMAGE, 0, QM_SR, NULL},      /* Completion Flag */
	{T(0x0040, 0xA493), "CS", QUERY_IMAGE, 0, QM_SR, NULL},      /* Verification Flag */
	{T(0x0040, 0xA504), "SQ", QUERY_IMAGE, 0, QM_SR, NULL},      /* Content Template Seq */
};

const struct qkey_def *qkey_find(uint32_t tag)
{
	size_t lo = 0, hi = sizeof defs / sizeof defs[0];

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (defs[mid].tag == tag)
			return &defs[mid];
		if (defs[mid].tag < tag)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct qkey_def *qkey_unique(enum query_level level)
{
	switch (level) {
	case QUERY_PATIENT: return qkey_find(T(0x0010, 0x0020));
	case QUERY_STUDY: return qkey_find(T(0x0020, 0x000D));
	case QUERY_SERIES: return qkey_find(T(0x0020, 0x000E));
	case QUERY_IMAGE: break;
	}
	return qkey_find(T(0x0008, 0x0018));
}

enum query_level qkey_level(const struct qkey_def *d, enum query_model model)
{
	if (model == QUERY_STUDY_ROOT && d->level == QUERY_PATIENT)
		return QUERY_STUDY;
	return d->level;
}
