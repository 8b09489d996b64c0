/*
 * Running a parsed identifier against the index (sql/001_init.sql, indexes of
 * sql/002_query.sql): the SQL for each level is assembled from fixed fragments (the key
 * table's column expressions and the operators of the matching rules, PS3.4 C.2.2.2) with every
 * value bound as a parameter, never pasted. C-FIND rows become response identifiers written
 * with dicom/writer.h; C-MOVE/C-GET rows become the instance list. Runs on the caller's thread
 * (a worker thread: every call may block on disk I/O).
 */
#include "query/internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dicom/dict.h"
#include "dicom/writer.h"
#include "dicom/error.h"
#include "storage/index.h"
#include "util/log.h"

/* SR Storage SOP classes (PS3.4 B.5: 1.2.840.10008.5.1.4.1.1.88.x) */
#define SR_CLASS_PREFIX "1.2.840.10008.5.1.4.1.1.88."

/* ---- a string builder and the bound values ---- */

struct sql {
	char *s;
	size_t len, cap;
	bool oom;
	struct bind {
		bool is_int;
		int64_t i;
		char *t;             /* owned */
	} *b;
	size_t nb, capb;
};

static void sql_add(struct sql *q, const char *s)
{
	size_t n = strlen(s);

	if (q->oom)
		return;
	if (q->len + n + 1 > q->cap) {
		size_t cap = q->cap ? q->cap : 512;
		char *p;

		while (cap < q->len + n + 1)
			cap *= 2;
		p = realloc(q->s, cap);
		if (p == NULL) {
			q->oom = true;
			return;
		}
		q->s = p;
		q->cap = cap;
	}
	memcpy(q->s + q->len, s, n + 1);
	q->len += n;
}

static struct bind *bind_new(struct sql *q)
{
	if (q->oom)
		return NULL;
	if (q->nb == q->capb) {
		size_t cap = q->capb ? 2 * q->capb : 16;
		struct bind *p = realloc(q->b, cap * sizeof *p);

		if (p == NULL) {
			q->oom = true;
			return NULL;
		}
		q->b = p;
		q->capb = cap;
	}
	memset(&q->b[q->nb], 0, sizeof q->b[0]);
	return &q->b[q->nb++];
}

/* Appends "?" and binds the text (copied; n bytes). */
static void bind_text(struct sql *q, const char *t, size_t n)
{
	struct bind *b = bind_new(q);

	if (b == NULL)
		return;
	b->t = strndup(t, n);
	if (b->t == NULL)
		q->oom = true;
	sql_add(q, "?");
}

static void bind_int(struct sql *q, int64_t v)
{
	struct bind *b = bind_new(q);

	if (b == NULL)
		return;
	b->is_int = true;
	b->i = v;
	sql_add(q, "?");
}

static void sql_free(struct sql *q)
{
	for (size_t k = 0; k < q->nb; k++)
		free(q->b[k].t);
	free(q->b);
	free(q->s);
}

/* ---- matching rules ---- */

/* Wild card value (C.2.2.2.4) as a GLOB pattern: '*' and '?' keep their meaning, '[' (GLOB's
 * only other special character) is matched literally as "[[]". */
static char *glob_pattern(const char *v)
{
	char *out = malloc(3 * strlen(v) + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *v; v++) {
		if (*v == '[') {
			memcpy(o, "[[]", 3);
			o += 3;
		} else {
			*o++ = *v;
		}
	}
	*o = '\0';
	return out;
}

/* The same as a LIKE pattern with ESCAPE '\' (case-insensitive PN): '%', '_' and '\' are
 * escaped, '*' becomes '%' and '?' '_'. */
static char *like_pattern(const char *v)
{
	char *out = malloc(2 * strlen(v) + 1), *o = out;

	if (out == NULL)
		return NULL;
	for (; *v; v++) {
		if (*v == '%' || *v == '_' || *v == '\\') {
			*o++ = '\\';
			*o++ = *v;
		} else if (*v == '*') {
			*o++ = '%';
		} else if (*v == '?') {
			*o++ = '_';
		} else {
			*o++ = *v;
		}
	}
	*o = '\0';
	return out;
}

/* One text value against col: single value (C.2.2.2.1) or wild card (C.2.2.2.4). */
static void cond_text_one(struct sql *q, const char *col, const char *v, bool ci)
{
	bool wild = strpbrk(v, "*?") != NULL;
	char *pat = NULL;

	sql_add(q, col);
	if (!wild) {
		sql_add(q, ci ? " = " : " = ");
		bind_text(q, v, strlen(v));
		if (ci)
			sql_add(q, " COLLATE NOCASE");
		return;
	}
	pat = ci ? like_pattern(v) : glob_pattern(v);
	if (pat == NULL) {
		q->oom = true;
		return;
	}
	sql_add(q, ci ? " LIKE " : " GLOB ");
	bind_text(q, pat, strlen(pat));
	if (ci)
		sql_add(q, " ESCAPE '\\'");
	free(pat);
}

/* A text key: each backslash-separated value may match (a list, as for UIDs); a value with
 * non-ASCII characters also matches its Latin-1 form (rows stored in ISO_IR 100). */
static void cond_text(struct sql *q, const char *col, const char *value, bool ci)
{
	const char *s = value;

	sql_add(q, "(");
	for (bool first = true;; first = false) {
		const char *end = strchr(s, '\\');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		char *one = strndup(s, n);

		if (one == NULL) {
			q->oom = true;
			return;
		}
		if (!first)
			sql_add(q, " OR ");
		if (strspn(one, "*") == n) {
			sql_add(q, "1");               /* '*' alone: universal */
		} else {
			cond_text_one(q, col, one, ci);
			if (!qcs_is_ascii(one)) {
				bool unrep;
				char *l1 = qcs_utf8_to_latin1(one, &unrep);

				if (l1 != NULL) {
					sql_add(q, " OR ");
					cond_text_one(q, col, l1, ci);
					free(l1);
				} else if (!unrep) {
					q->oom = true;
				}
			}
		}
		free(one);
		if (end == NULL)
			break;
		s = end + 1;
	}
	sql_add(q, ")");
}

/* A list of UIDs (C.2.2.2.2) bound as one JSON array: col IN (SELECT value FROM json_each(?)).
 * UIDs are digits and dots only (checked by query_parse), so quoting them is enough. */
static void cond_uids(struct sql *q, const char *col, const char *value)
{
	size_t n = strlen(value);
	char *json = malloc(3 * n + 8), *o = json;

	if (json == NULL) {
		q->oom = true;
		return;
	}
	*o++ = '[';
	*o++ = '"';
	for (const char *s = value; *s; s++) {
		if (*s == '\\') {
			memcpy(o, "\",\"", 3);
			o += 3;
		} else {
			*o++ = *s;
		}
	}
	*o++ = '"';
	*o++ = ']';
	*o = '\0';
	if (strchr(value, '\\') == NULL) {
		sql_add(q, col);
		sql_add(q, " = ");
		bind_text(q, value, n);
	} else {
		sql_add(q, col);
		sql_add(q, " IN (SELECT value FROM json_each(");
		bind_text(q, json, strlen(json));
		sql_add(q, "))");
	}
	free(json);
}

/* DA / TM single value or range (C.2.2.2.5). TM values are compared in the normalised form
 * qr_tm() gives (HHMMSS.FFFFFF), so "1030" stored matches a range ending at "103000". */
static void cond_range(struct sql *q, const char *col, const char *v, bool time)
{
	const char *dash = strchr(v, '-');
	size_t a = dash ? (size_t)(dash - v) : strlen(v);
	const char *bs = dash ? dash + 1 : v;
	size_t b = dash ? strlen(bs) : a;
	char lo[14], hi[14];
	char expr[160];

	if (time)
		snprintf(expr, sizeof expr, "qr_tm(%s)", col);
	else
		snprintf(expr, sizeof expr, "%s", col);
	sql_add(q, "(");
	if (!time && !dash) {
		sql_add(q, expr);
		sql_add(q, " = ");
		bind_text(q, v, a);
		sql_add(q, ")");
		return;
	}
	sql_add(q, expr);
	sql_add(q, " IS NOT NULL");
	if (a > 0) {
		sql_add(q, " AND ");
		sql_add(q, expr);
		sql_add(q, " >= ");
		if (time) {
			qtm_norm(v, a, false, lo);
			bind_text(q, lo, strlen(lo));
		} else {
			bind_text(q, v, a);
		}
	}
	if (b > 0) {
		sql_add(q, " AND ");
		sql_add(q, expr);
		sql_add(q, " <= ");
		if (time) {
			qtm_norm(bs, b, true, hi);
			bind_text(q, hi, strlen(hi));
		} else {
			bind_text(q, bs, b);
		}
	}
	sql_add(q, ")");
}

static void cond_int(struct sql *q, const char *col, const char *value)
{
	const char *s = value;

	sql_add(q, col);
	sql_add(q, " IN (");
	for (bool first = true;; first = false) {
		char *end;
		long long v = strtoll(s, &end, 10);

		if (!first)
			sql_add(q, ", ");
		bind_int(q, v);
		s = strchr(s, '\\');
		if (s == NULL)
			break;
		s++;
	}
	sql_add(q, ")");
}

/* The lesion key (query.h). When the findings tables land (another issue) this becomes an
 * EXISTS over the findings of the study's SR instances (e.g. findings.count > 0). */
/* A study "has a lesion" when the latest completed analysis of one of its series found one
 * (sql/003_analysis.sql). */
#define LESION_EXISTS \
	"EXISTS (SELECT 1 FROM series x JOIN analyses an ON an.series_ref = x.id " \
	"WHERE x.study_ref = st.id AND an.state = 'done' AND an.lesions > 0 AND NOT EXISTS " \
	"(SELECT 1 FROM analyses b WHERE b.series_ref = x.id AND b.state = 'done' AND " \
	"b.id > an.id))"

static void cond_key(struct sql *q, const struct query *qr, const struct qkey *k)
{
	const char *col = k->def ? k->def->col : NULL;

	switch (k->match) {
	case QM_TEXT:
		cond_text(q, col, k->value, qr->pn_ci && strcmp(k->vr, "PN") == 0);
		break;
	case QM_UID:
		cond_uids(q, col, k->value);
		break;
	case QM_DATE:
		cond_range(q, col, k->value, false);
		break;
	case QM_TIME:
		cond_range(q, col, k->value, true);
		break;
	case QM_INT:
		cond_int(q, col, k->value);
		break;
	case QM_MODALITIES:
		sql_add(q, "EXISTS (SELECT 1 FROM series x WHERE x.study_ref = st.id AND ");
		cond_text(q, "x.modality", k->value, false);
		sql_add(q, ")");
		break;
	case QM_SOPCLASSES:
		sql_add(q, "EXISTS (SELECT 1 FROM series x JOIN instances y ON y.series_ref = x.id "
			   "WHERE x.study_ref = st.id AND ");
		cond_uids(q, "y.sop_class_uid", k->value);
		sql_add(q, ")");
		break;
	case QM_LESION:
		sql_add(q, strcmp(k->value, "YES") == 0 ? LESION_EXISTS : "NOT " LESION_EXISTS);
		break;
	case QM_NONE:
	case QM_SPECIAL:
	case QM_SR:          /* matched in C on the file's values (sr_match) */
		sql_add(q, "1");
		break;
	}
}

static const char *const from_sql[] = {
	[QUERY_PATIENT] = " FROM patients p",
	[QUERY_STUDY] = " FROM studies st JOIN patients p ON p.id = st.patient_ref",
	[QUERY_SERIES] = " FROM series se JOIN studies st ON st.id = se.study_ref "
			 "JOIN patients p ON p.id = st.patient_ref",
	[QUERY_IMAGE] = " FROM instances i JOIN series se ON se.id = i.series_ref "
			"JOIN studies st ON st.id = se.study_ref JOIN patients p ON p.id = st.patient_ref",
};

static const char *const order_sql[] = {
	[QUERY_PATIENT] = " ORDER BY p.patient_id",
	[QUERY_STUDY] = " ORDER BY st.study_date, st.study_time, st.id",
	[QUERY_SERIES] = " ORDER BY se.number, se.id",
	[QUERY_IMAGE] = " ORDER BY i.instance_number, i.id",
};

/* The Specific Character Set of a row's text: that of one instance below it. */
static const char *const charset_sql[] = {
	[QUERY_PATIENT] = "(SELECT y.specific_charset FROM studies a JOIN series x ON x.study_ref "
			  "= a.id JOIN instances y ON y.series_ref = x.id WHERE a.patient_ref = p.id "
			  "LIMIT 1)",
	[QUERY_STUDY] = "(SELECT y.specific_charset FROM series x JOIN instances y ON "
			"y.series_ref = x.id WHERE x.study_ref = st.id LIMIT 1)",
	[QUERY_SERIES] = "(SELECT y.specific_charset FROM instances y WHERE y.series_ref = se.id "
			 "LIMIT 1)",
	[QUERY_IMAGE] = "i.specific_charset",
};

static void add_where(struct sql *s, const struct query *q)
{
	sql_add(s, " WHERE 1");
	for (size_t k = 0; k < q->nkeys; k++) {
		if (!q->keys[k].matching)
			continue;
		sql_add(s, " AND ");
		cond_key(s, q, &q->keys[k]);
	}
}

static int prepare(sqlite3 *db, struct sql *s, sqlite3_stmt **st)
{
	int rc;

	if (s->oom)
		return -ENOMEM;
	rc = sqlite3_prepare_v2(db, s->s, -1, st, NULL);
	if (rc != SQLITE_OK)
		return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
	for (size_t k = 0; k < s->nb; k++) {
		if (s->b[k].is_int)
			rc = sqlite3_bind_int64(*st, (int)k + 1, s->b[k].i);
		else
			rc = sqlite3_bind_text(*st, (int)k + 1, s->b[k].t, -1, SQLITE_STATIC);
		if (rc != SQLITE_OK)
			return -EIO;
	}
	return 0;
}

/* ---- the SQL function and the connection ---- */

static void fn_qr_tm(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
	const unsigned char *t = sqlite3_value_text(argv[0]);
	char out[14];

	(void)argc;
	if (t == NULL || qtm_norm((const char *)t, strlen((const char *)t), false, out) < 0) {
		sqlite3_result_null(ctx);
		return;
	}
	sqlite3_result_text(ctx, out, 13, SQLITE_TRANSIENT);
}

int query_db_open(const char *index_path, sqlite3 **db, char *err, size_t errlen)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int rc;
	int64_t v = -1;

	rc = sqlite3_open_v2(index_path, &h, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOFOLLOW, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	sqlite3_extended_result_codes(h, 1);
	sqlite3_busy_timeout(h, INDEX_BUSY_TIMEOUT_MS);
	rc = sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW)
		goto fail;
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = NULL;
	if (v != (int64_t)index_schema_latest()) {
		if (err && errlen)
			snprintf(err, errlen, "%s: schema version %lld, this build needs %zu",
				 index_path, (long long)v, index_schema_latest());
		sqlite3_close(h);
		return -EPROTO;
	}
	rc = sqlite3_create_function(h, "qr_tm", 1,
				     SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
				     fn_qr_tm, NULL, NULL);
	if (rc != SQLITE_OK)
		goto fail;
	*db = h;
	return 0;
fail:
	if (err && errlen)
		snprintf(err, errlen, "%s: %s", index_path,
			 h ? sqlite3_errmsg(h) : sqlite3_errstr(rc));
	sqlite3_finalize(st);
	sqlite3_close(h);
	return rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
}

/* ---- C-FIND ---- */

/* Values of one row, before encoding. */
struct rowval {
	char *text;      /* owned, UTF-8 (or raw for QCS_OTHER); NULL: empty */
	bool is_null;
};

/* A sequence with one item holding n (tag, VR, value) string elements; empty values are
 * written too (the item lists what the SCP knows). Defined lengths (PS3.5 7.5.1). */
static int put_seq_item(struct dcm_buf *b, uint32_t tag, size_t n, const uint32_t *tags,
			const char *const *vrs, const char *const *vals, bool explicit_vr)
{
	struct dcm_buf it = {0};
	int r = 0;

	for (size_t k = 0; k < n && r == 0; k++)
		r = dcm_put_str(&it, tags[k], vrs[k], vals[k], explicit_vr);
	if (r == 0 && it.len > UINT32_MAX - 8)
		r = -EINVAL;
	if (r == 0)
		r = dcm_put_header(b, tag, "SQ", (uint32_t)it.len + 8, explicit_vr);
	if (r == 0)
		r = dcm_put_item_tag(b, DCM_TAG_ITEM, (uint32_t)it.len);
	if (r == 0)
		r = dcm_buf_append(b, it.data, it.len);
	dcm_buf_free(&it);
	return r;
}

static int put_key(struct dcm_buf *b, const struct qkey *k, const char *text,
		   const struct qsr *sr, bool explicit_vr)
{
	if (k->sequence && k->match == QM_SR && sr != NULL && sr->loaded) {
		if (k->tag == DCM_TAG(0x0040, 0xA043) && sr->has_cn) {
			static const uint32_t tags[3] = {DCM_TAG(0x0008, 0x0100),
							 DCM_TAG(0x0008, 0x0102),
							 DCM_TAG(0x0008, 0x0104)};
			static const char *const vrs[3] = {"SH", "SH", "LO"};
			const char *vals[3] = {sr->cn[0], sr->cn[1], sr->cn[2]};

			return put_seq_item(b, k->tag, 3, tags, vrs, vals, explicit_vr);
		}
		if (k->tag == DCM_TAG(0x0040, 0xA504) && sr->has_tpl) {
			static const uint32_t tags[2] = {DCM_TAG(0x0008, 0x0105),
							 DCM_TAG(0x0040, 0xDB00)};
			static const char *const vrs[2] = {"CS", "CS"};
			const char *vals[2] = {sr->tpl[0], sr->tpl[1]};

			return put_seq_item(b, k->tag, 2, tags, vrs, vals, explicit_vr);
		}
	}
	if (k->sequence)
		return dcm_put_header(b, k->tag, "SQ", 0, explicit_vr);
	if (strcmp(k->vr, "US") == 0 && text != NULL && text[0] != '\0')
		return dcm_put_u16(b, k->tag, (uint16_t)strtoul(text, NULL, 10), explicit_vr);
	if (strcmp(k->vr, "US") == 0 || strcmp(k->vr, "UN") == 0 || strcmp(k->vr, "OB") == 0)
		return dcm_put_bytes(b, k->tag, k->vr, "", 0, explicit_vr);
	return dcm_put_str(b, k->tag, k->vr, text ? text : "", explicit_vr);
}

/* The value of a non-sequence SR key in *sr, or NULL. */
static const char *sr_value(const struct qsr *sr, uint32_t tag)
{
	switch (tag) {
	case DCM_TAG(0x0008, 0x0023): return sr->content_date;
	case DCM_TAG(0x0008, 0x0033): return sr->content_time;
	case DCM_TAG(0x0040, 0xA491): return sr->completion;
	case DCM_TAG(0x0040, 0xA493): return sr->verification;
	}
	return NULL;
}

/* The SR keys that take part in matching, evaluated on the values read from the file (an
 * instance that is not SR, or whose file could not be read, has none: it does not match). */
static bool sr_match(const struct query *q, const struct qsr *sr)
{
	for (size_t k = 0; k < q->nkeys; k++) {
		const struct qkey *key = &q->keys[k];

		if (key->match != QM_SR || !key->matching)
			continue;
		if (!sr->loaded)
			return false;
		if (key->sequence) {
			if (!sr->has_cn)
				return false;
			for (int j = 0; j < 3; j++)
				if (key->item[j] != NULL && key->item[j][0] != '\0' &&
				    !qmatch_text(key->item[j], sr->cn[j], false))
					return false;
			continue;
		}
		const char *v = sr_value(sr, key->tag);
		if (strcmp(key->vr, "DA") == 0 || strcmp(key->vr, "TM") == 0) {
			if (!qmatch_range(key->value, v, key->vr[0] == 'T'))
				return false;
		} else if (!qmatch_text(key->value, v, false)) {
			return false;
		}
	}
	return true;
}

/* Builds the response identifier of the current row (columns: 0 charset, then one per
 * returned key with a column, in key order). */
static int build_response(const struct query *q, sqlite3_stmt *st, int col,
			  const struct qsr *sr, const struct dcm_ts *ts, struct dcm_buf *b,
			  struct rowval *vals)
{
	const unsigned char *rcs = sqlite3_column_text(st, 0);
	enum qcharset row_cs = qcs_from_scs(rcs ? (const char *)rcs : "");
	bool ascii = true, latin1 = true;
	const char *out_scs;
	int r = 0;

	for (size_t k = 0; k < q->nkeys; k++) {
		const struct qkey *key = &q->keys[k];

		vals[k].text = NULL;
		if (key->def != NULL && key->def->col != NULL && key->returned) {
			const unsigned char *t = sqlite3_column_text(st, col);
			int n = sqlite3_column_bytes(st, col);

			col++;
			if (t != NULL) {
				vals[k].text = qcs_to_utf8(row_cs, (const char *)t, (size_t)n, false);
				if (vals[k].text == NULL)
					return -ENOMEM;
			}
		} else if (key->match == QM_LESION) {
			vals[k].text = strdup(sqlite3_column_int(st, col++) ? "YES" : "NO");
		} else if (key->match == QM_SPECIAL && DCM_GROUP(key->tag) == QUERY_PRIVATE_GROUP) {
			vals[k].text = strdup(QUERY_PRIVATE_CREATOR);
		} else if (key->tag == DCM_TAG(0x0008, 0x0052)) {
			vals[k].text = strdup(query_level_name(q->level));
		} else if (key->tag == DCM_TAG(0x0008, 0x0054)) {
			vals[k].text = strdup(q->retrieve_ae);
		} else if (key->match == QM_SR && !key->sequence && sr != NULL) {
			const char *t = sr_value(sr, key->tag);

			if (t != NULL && (vals[k].text = strdup(t)) == NULL)
				return -ENOMEM;
		}
		if (vals[k].text != NULL && !qcs_is_ascii(vals[k].text)) {
			bool unrep;
			char *l1;

			ascii = false;
			if (latin1) {
				l1 = qcs_utf8_to_latin1(vals[k].text, &unrep);
				if (l1 == NULL && !unrep)
					return -ENOMEM;
				free(l1);
				latin1 = !unrep;
			}
		}
	}
	/* The response's character set (C.4.1.1.3.1 note; PS3.5 6.1.2.5). */
	if (row_cs == QCS_OTHER && !ascii) {
		out_scs = (const char *)rcs;               /* passed through unconverted */
	} else if (ascii) {
		out_scs = q->charset;
	} else if (latin1 && (q->cs == QCS_LATIN1 || (q->cs == QCS_DEFAULT && row_cs == QCS_LATIN1))) {
		out_scs = "ISO_IR 100";
		for (size_t k = 0; k < q->nkeys; k++) {
			bool unrep;
			char *l1;

			if (vals[k].text == NULL || qcs_is_ascii(vals[k].text))
				continue;
			l1 = qcs_utf8_to_latin1(vals[k].text, &unrep);
			if (l1 == NULL)
				return -ENOMEM;
			free(vals[k].text);
			vals[k].text = l1;
		}
	} else {
		out_scs = "ISO_IR 192";
	}

	b->len = 0;
	for (size_t k = 0; k < q->nkeys && r == 0; k++) {
		const struct qkey *key = &q->keys[k];

		if (key->tag == DCM_TAG(0x0008, 0x0005))
			r = dcm_put_str(b, key->tag, "CS", out_scs, ts->explicit_vr);
		else
			r = put_key(b, key, vals[k].text, sr, ts->explicit_vr);
	}
	return r;
}

static void free_vals(struct rowval *vals, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		free(vals[k].text);
		vals[k].text = NULL;
	}
}

int query_find(sqlite3 *db, const struct query *q, const struct dcm_ts *ts, size_t max_matches,
	       int (*emit)(void *ctx, const uint8_t *ds, size_t len), void *ctx, bool *capped,
	       uint16_t *status)
{
	struct sql s = {0};
	sqlite3_stmt *st = NULL;
	struct dcm_buf b = {0};
	struct rowval *vals = NULL;
	size_t emitted = 0;
	int r, rc;

	if (capped)
		*capped = false;
	if (ts->big_endian || ts->deflated) {
		*status = QUERY_ST_TS;     /* dicom/writer.h writes Little Endian only */
		return -EINVAL;
	}
	sql_add(&s, "SELECT ");
	sql_add(&s, charset_sql[q->level]);
	if (q->sr_file)
		sql_add(&s, ", i.sop_class_uid, i.file_path");
	for (size_t k = 0; k < q->nkeys; k++) {
		const struct qkey *key = &q->keys[k];

		if (key->def != NULL && key->def->col != NULL && key->returned) {
			sql_add(&s, ", ");
			sql_add(&s, key->def->col);
		} else if (key->match == QM_LESION) {
			sql_add(&s, ", " LESION_EXISTS);
		}
	}
	sql_add(&s, from_sql[q->level]);
	add_where(&s, q);
	sql_add(&s, order_sql[q->level]);
	if (max_matches > 0 && !q->sr_filter) {
		sql_add(&s, " LIMIT ");
		bind_int(&s, (int64_t)max_matches + 1);
	}
	vals = calloc(q->nkeys + 1, sizeof *vals);
	if (vals == NULL) {
		r = -ENOMEM;
		goto out;
	}
	r = prepare(db, &s, &st);
	if (r < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		struct qsr sr;
		bool have_sr = false;

		if (q->sr_file) {
			const unsigned char *cls = sqlite3_column_text(st, 1);
			const unsigned char *path = sqlite3_column_text(st, 2);

			memset(&sr, 0, sizeof sr);
			if (cls && path && strncmp((const char *)cls, SR_CLASS_PREFIX,
						   strlen(SR_CLASS_PREFIX)) == 0) {
				int e = qsr_load(q->root, (const char *)path, &sr);

				if (e < 0)
					log_warn("event=query_sr_read path=%s error=%s", path,
						 e == -ENOMEM ? "out of memory" : dcm_strerror(e));
			}
			have_sr = true;
			if (q->sr_filter && !sr_match(q, &sr))
				continue;
		}
		if (max_matches > 0 && emitted == max_matches) {
			if (capped)
				*capped = true;
			break;
		}
		r = build_response(q, st, q->sr_file ? 3 : 1, have_sr ? &sr : NULL, ts, &b, vals);
		free_vals(vals, q->nkeys);
		if (r < 0)
			goto out;
		emitted++;
		if (emit(ctx, b.data, b.len) != 0) {
			r = 1;
			goto out;
		}
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		r = rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
		goto out;
	}
	r = 0;
out:
	if (r < 0)
		*status = r == -ENOMEM ? QUERY_ST_NOMEM : QUERY_ST_DB;
	if (vals)
		free_vals(vals, q->nkeys);
	free(vals);
	dcm_buf_free(&b);
	sqlite3_finalize(st);
	sql_free(&s);
	return r;
}

/* ---- C-MOVE / C-GET ---- */

static void copy_col(char *dst, size_t cap, sqlite3_stmt *st, int col)
{
	const unsigned char *t = sqlite3_column_text(st, col);

	snprintf(dst, cap, "%s", t ? (const char *)t : "");
}

int query_retrieve(sqlite3 *db, const struct query *q, struct query_instance **list, size_t *n,
		   uint16_t *status)
{
	struct sql s = {0};
	sqlite3_stmt *st = NULL;
	struct query_instance *v = NULL;
	size_t cnt = 0, cap = 0;
	int r, rc;

	*list = NULL;
	*n = 0;
	sql_add(&s, "SELECT i.sop_class_uid, i.sop_instance_uid, i.transfer_syntax, i.file_path, "
		    "i.file_size");
	sql_add(&s, from_sql[QUERY_IMAGE]);
	add_where(&s, q);
	sql_add(&s, " ORDER BY st.id, se.number, se.id, i.instance_number, i.id");
	r = prepare(db, &s, &st);
	if (r < 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t ncap = cap ? 2 * cap : 64;
			struct query_instance *p = realloc(v, ncap * sizeof *p);

			if (p == NULL) {
				r = -ENOMEM;
				goto out;
			}
			v = p;
			cap = ncap;
		}
		copy_col(v[cnt].sop_class_uid, sizeof v[cnt].sop_class_uid, st, 0);
		copy_col(v[cnt].sop_instance_uid, sizeof v[cnt].sop_instance_uid, st, 1);
		copy_col(v[cnt].ts_uid, sizeof v[cnt].ts_uid, st, 2);
		copy_col(v[cnt].rel_path, sizeof v[cnt].rel_path, st, 3);
		v[cnt].size = sqlite3_column_int64(st, 4);
		cnt++;
	}
	if (rc != SQLITE_DONE) {
		r = rc == SQLITE_NOMEM ? -ENOMEM : -EIO;
		goto out;
	}
	*list = v;
	*n = cnt;
	v = NULL;
	r = 0;
out:
	if (r < 0)
		*status = r == -ENOMEM ? QUERY_ST_NOMEM_RETRIEVE : QUERY_ST_DB;
	free(v);
	sqlite3_finalize(st);
	sql_free(&s);
	return r;
}
