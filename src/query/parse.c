/*
 * Parsing and validation of a Query/Retrieve identifier (PS3.4 C.4.1.1.3 for C-FIND,
 * C.4.2.1.4 / C.4.3.1.3 for C-MOVE / C-GET, the key tables of C.6): the top-level elements
 * are read with the dicom/ parser, values converted to UTF-8 per Specific Character Set, every
 * key checked against the level and the model (baseline hierarchical, C.4.1.2.1), and each
 * value checked against the matching rule its VR allows (C.2.2.2). The result is the struct
 * query that query_find.c turns into SQL. No SQLite, no I/O.
 */
#include "query/internal.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dicom/attrs.h"
#include "dicom/parser.h"

#define MAX_KEYS 512          /* top-level elements in one identifier */
#define MAX_VALUE (1u << 20)  /* longest key value (a long UID list) */

static struct {
	bool pn_ci;
	char retrieve_ae[17];
	char root[4096];
} g_opt;

void query_set_options(const struct query_options *opt)
{
	g_opt.pn_ci = opt->pn_case_insensitive;
	snprintf(g_opt.retrieve_ae, sizeof g_opt.retrieve_ae, "%s",
		 opt->retrieve_ae ? opt->retrieve_ae : "");
	snprintf(g_opt.root, sizeof g_opt.root, "%s", opt->storage_root ? opt->storage_root : "");
}

/* One top-level element as read. */
struct raw {
	uint32_t tag;
	char vr[3];
	const uint8_t *val;   /* into ds, or into cap (deflated) */
	uint32_t len;
	uint8_t *cap;         /* owned copy (deflated transfer syntaxes only) */
	bool sequence;
	bool sq_values;       /* some element inside the sequence's items has a value that was
	                         not captured below */
	unsigned items;       /* items of the sequence */
	struct {
		uint32_t tag;
		uint8_t val[65];
		uint32_t len;
	} item[4];            /* non-empty values of the first item (depth 1, up to 64 bytes) */
	unsigned nitem;
};

struct pctx {
	const uint8_t *ds;
	size_t len;
	bool deflated;
	struct raw *raw;
	size_t n;
	char err[160];
};

static int on_element(void *vctx, const struct dcm_elem *e)
{
	struct pctx *c = vctx;
	struct raw *r;

	if (e->depth > 0) {
		if (c->n == 0 || e->length == 0 || e->length == DCM_UNDEFINED_LENGTH ||
		    strcmp(e->vr, "SQ") == 0)
			return 0;
		r = &c->raw[c->n - 1];
		if (e->depth == 1 && r->items == 1 && r->nitem < 4 && e->length < 65) {
			r->item[r->nitem].tag = e->tag;
			return DCM_WANT_VALUE;
		}
		r->sq_values = true;
		return 0;
	}
	if (c->n == MAX_KEYS) {
		snprintf(c->err, sizeof c->err, "more than %d keys", MAX_KEYS);
		return -E2BIG;
	}
	r = &c->raw[c->n++];
	memset(r, 0, sizeof *r);
	r->tag = e->tag;
	memcpy(r->vr, e->vr, 3);
	if (strcmp(e->vr, "SQ") == 0 || e->length == DCM_UNDEFINED_LENGTH) {
		r->sequence = true;
		return 0;
	}
	if (e->length > MAX_VALUE) {
		snprintf(c->err, sizeof c->err, "(%04X,%04X) value of %u bytes", DCM_GROUP(e->tag),
			 DCM_ELEMENT(e->tag), e->length);
		return -E2BIG;
	}
	r->len = e->length;
	if (!c->deflated) {
		if (e->value_offset > c->len || c->len - e->value_offset < e->length)
			return DCM_ETRUNC;
		r->val = c->ds + e->value_offset;
		return 0;
	}
	if (e->length > DCM_MAX_CAPTURE) {
		snprintf(c->err, sizeof c->err, "(%04X,%04X) value too long for a deflated identifier",
			 DCM_GROUP(e->tag), DCM_ELEMENT(e->tag));
		return -E2BIG;
	}
	return DCM_WANT_VALUE;
}

static int on_value(void *vctx, const struct dcm_elem *e, const uint8_t *val, size_t len)
{
	struct pctx *c = vctx;
	struct raw *r = &c->raw[c->n - 1];

	if (e->depth == 1 && r->sequence) {
		memcpy(r->item[r->nitem].val, val, len);
		r->item[r->nitem].len = (uint32_t)len;
		r->nitem++;
		return 0;
	}
	if (e->depth > 0 || r->tag != e->tag)
		return 0;
	r->cap = malloc(len + 1);
	if (r->cap == NULL)
		return -ENOMEM;
	memcpy(r->cap, val, len);
	r->val = r->cap;
	r->len = (uint32_t)len;
	return 0;
}

static int on_item(void *vctx, const struct dcm_elem *e)
{
	struct pctx *c = vctx;

	if (e->depth == 1 && c->n > 0)
		c->raw[c->n - 1].items++;
	return 0;
}

static int fail(uint16_t *status, uint16_t st, char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(uint16_t *status, uint16_t st, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	*status = st;
	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
		/* values quoted from the identifier are the peer's bytes: keep the log line one
		 * line (control bytes as '?') */
		for (char *p = err; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				*p = '?';
	}
	return -EINVAL;
}

int query_sop_class(const char *uid, enum query_model *model, enum query_op *op)
{
	static const struct {
		const char *uid;
		enum query_model model;
		enum query_op op;
	} t[] = {
		{QUERY_UID_PATIENT_ROOT_FIND, QUERY_PATIENT_ROOT, QUERY_FIND},
		{QUERY_UID_PATIENT_ROOT_MOVE, QUERY_PATIENT_ROOT, QUERY_MOVE},
		{QUERY_UID_PATIENT_ROOT_GET, QUERY_PATIENT_ROOT, QUERY_GET},
		{QUERY_UID_STUDY_ROOT_FIND, QUERY_STUDY_ROOT, QUERY_FIND},
		{QUERY_UID_STUDY_ROOT_MOVE, QUERY_STUDY_ROOT, QUERY_MOVE},
		{QUERY_UID_STUDY_ROOT_GET, QUERY_STUDY_ROOT, QUERY_GET},
	};

	if (uid == NULL)
		return -1;
	for (size_t k = 0; k < sizeof t / sizeof t[0]; k++) {
		if (strcmp(uid, t[k].uid) == 0) {
			if (model)
				*model = t[k].model;
			if (op)
				*op = t[k].op;
			return 0;
		}
	}
	return -1;
}

const char *query_level_name(enum query_level level)
{
	switch (level) {
	case QUERY_PATIENT: return "PATIENT";
	case QUERY_STUDY: return "STUDY";
	case QUERY_SERIES: return "SERIES";
	case QUERY_IMAGE: break;
	}
	return "IMAGE";
}

void query_free(struct query *q)
{
	if (q == NULL)
		return;
	for (size_t k = 0; k < q->nkeys; k++) {
		free(q->keys[k].value);
		for (int j = 0; j < 3; j++)
			free(q->keys[k].item[j]);
	}
	free(q->keys);
	free(q->root);
	free(q);
}

enum query_level query_level(const struct query *q) { return q->level; }
enum query_model query_model(const struct query *q) { return q->model; }
enum query_op query_op(const struct query *q) { return q->op; }
bool query_unsupported_keys(const struct query *q) { return q->unsupported; }

const char *query_summary(const struct query *q, char *buf, size_t cap)
{
	size_t n;
	bool first = true;

	if (cap == 0)
		return buf;
	n = (size_t)snprintf(buf, cap, "model=%s level=%s keys=%zu matching=",
			     q->model == QUERY_PATIENT_ROOT ? "PATIENT" : "STUDY",
			     query_level_name(q->level), q->nkeys);
	for (size_t k = 0; k < q->nkeys && n < cap; k++) {
		if (!q->keys[k].matching)
			continue;
		n += (size_t)snprintf(buf + n, cap - n, "%s(%04X,%04X)", first ? "" : ",",
				      DCM_GROUP(q->keys[k].tag), DCM_ELEMENT(q->keys[k].tag));
		first = false;
	}
	if (first && n < cap)
		snprintf(buf + n, cap - n, "none");
	return buf;
}

/* Trims the padding a value may carry (PS3.5 6.2): trailing spaces and NULs always, leading
 * spaces too except for PN, LT, ST, UT where they are significant. */
static void trim_value(const uint8_t **v, uint32_t *len, const char *vr)
{
	bool lead = !(strcmp(vr, "PN") == 0 || strcmp(vr, "LT") == 0 || strcmp(vr, "ST") == 0 ||
		      strcmp(vr, "UT") == 0);

	while (*len > 0 && ((*v)[*len - 1] == ' ' || (*v)[*len - 1] == '\0'))
		(*len)--;
	while (lead && *len > 0 && (*v)[0] == ' ') {
		(*v)++;
		(*len)--;
	}
}

static bool has_wildcard(const char *s)
{
	return strpbrk(s, "*?") != NULL;
}

/* Every backslash-separated value a valid UID (PS3.5 9.1), none empty (C.2.2.2.2). */
static bool uid_list_valid(const char *s)
{
	char one[DCM_UID_MAX + 2];

	for (;;) {
		const char *end = strchr(s, '\\');
		size_t n = end ? (size_t)(end - s) : strlen(s);

		if (n == 0 || n > DCM_UID_MAX)
			return false;
		memcpy(one, s, n);
		one[n] = '\0';
		if (!dcm_uid_valid(one))
			return false;
		if (end == NULL)
			return true;
		s = end + 1;
	}
}

static bool da_valid(const char *s, size_t n)
{
	if (n != 8)
		return false;
	for (size_t k = 0; k < 8; k++)
		if (!isdigit((unsigned char)s[k]))
			return false;
	int mo = (s[4] - '0') * 10 + (s[5] - '0'), d = (s[6] - '0') * 10 + (s[7] - '0');
	return mo >= 1 && mo <= 12 && d >= 1 && d <= 31;
}

/* DA or TM single value or range a-b, a-, -b (C.2.2.2.5). */
static bool range_valid(const char *s, bool time)
{
	const char *dash = strchr(s, '-');
	size_t n = strlen(s);
	char tmp[14];

	if (dash != NULL && strchr(dash + 1, '-') != NULL)
		return false;
	if (dash == NULL)
		return time ? qtm_norm(s, n, false, tmp) == 0 : da_valid(s, n);
	size_t a = (size_t)(dash - s), b = n - a - 1;
	if (a == 0 && b == 0)
		return false;
	if (time)
		return (a == 0 || qtm_norm(s, a, false, tmp) == 0) &&
		       (b == 0 || qtm_norm(dash + 1, b, true, tmp) == 0);
	return (a == 0 || da_valid(s, a)) && (b == 0 || da_valid(dash + 1, b));
}

static bool int_list_valid(const char *s)
{
	for (;;) {
		const char *end = strchr(s, '\\');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		size_t k = 0;

		while (k < n && s[k] == ' ')
			k++;
		if (k < n && (s[k] == '+' || s[k] == '-'))
			k++;
		if (k == n)
			return false;
		for (; k < n; k++)
			if (!isdigit((unsigned char)s[k]) && s[k] != ' ')
				return false;
		if (end == NULL)
			return true;
		s = end + 1;
	}
}

static int cmp_key(const void *a, const void *b)
{
	const struct qkey *x = a, *y = b;

	return x->tag < y->tag ? -1 : x->tag > y->tag;
}

/* A single value in the sense of C.4.1.2.1: non-empty, one value, no wild card. */
static bool single_value(const struct qkey *k)
{
	return k->value[0] != '\0' && strchr(k->value, '\\') == NULL && !has_wildcard(k->value);
}

static struct qkey *find_key(struct query *q, uint32_t tag)
{
	for (size_t k = 0; k < q->nkeys; k++)
		if (q->keys[k].tag == tag)
			return &q->keys[k];
	return NULL;
}

/* Checks the value of one key against the rule its VR allows; sets k->matching. */
static int check_value(struct query *q, struct qkey *k, uint16_t *status, char *err,
		       size_t errlen)
{
	const char *v = k->value;
	unsigned g = DCM_GROUP(k->tag), e = DCM_ELEMENT(k->tag);

	if (k->sequence) {
		/* C.2.2.2.6: an empty item (or none) is universal; values we cannot match
		 * are ignored (FF01). */
		return 0;
	}
	if (v[0] == '\0')
		return 0;                         /* universal (C.2.2.2.3) */
	switch (k->match) {
	case QM_UID:
	case QM_SOPCLASSES:
		if (!uid_list_valid(v))
			return fail(status, QUERY_ST_BAD_UID, err, errlen,
				    "(%04X,%04X): not a valid UID list", g, e);
		k->matching = true;
		return 0;
	case QM_DATE:
	case QM_TIME:
		if (!range_valid(v, k->match == QM_TIME))
			return fail(status, QUERY_ST_BAD_VALUE, err, errlen,
				    "(%04X,%04X): malformed %s value or range", g, e, k->vr);
		k->matching = true;
		return 0;
	case QM_INT:
		if (!int_list_valid(v))
			return fail(status, QUERY_ST_BAD_VALUE, err, errlen,
				    "(%04X,%04X): not an integer", g, e);
		k->matching = true;
		return 0;
	case QM_TEXT:
	case QM_MODALITIES:
		/* `*` alone is universal (C.2.2.2.4) */
		k->matching = strspn(v, "*") != strlen(v);
		return 0;
	case QM_LESION:
		if (strcmp(v, "YES") != 0 && strcmp(v, "NO") != 0)
			return fail(status, QUERY_ST_BAD_VALUE, err, errlen,
				    "(%04X,%04X): Lesion Found must be YES or NO", g, e);
		k->matching = true;
		return 0;
	case QM_SR:
		if (q->root == NULL) {
			if (strspn(v, "*") != strlen(v))
				q->unsupported = true;
			return 0;
		}
		if ((strcmp(k->vr, "DA") == 0 || strcmp(k->vr, "TM") == 0) &&
		    !range_valid(v, k->vr[0] == 'T'))
			return fail(status, QUERY_ST_BAD_VALUE, err, errlen,
				    "(%04X,%04X): malformed %s value or range", g, e, k->vr);
		k->matching = strspn(v, "*") != strlen(v);
		return 0;
	case QM_NONE:
		if (strspn(v, "*") != strlen(v))
			q->unsupported = true;
		return 0;
	case QM_SPECIAL:
		return 0;
	}
	return 0;
}

int query_parse(const uint8_t *ds, size_t len, const struct dcm_ts *ts, enum query_model model,
		enum query_op op, struct query **out, uint16_t *status, char *err, size_t errlen)
{
	struct pctx c = {.ds = ds, .len = len, .deflated = ts->deflated};
	struct dcm_parser_cb cb = {.ctx = &c, .on_element = on_element, .on_value = on_value,
				   .on_item = on_item};
	struct dcm_parser p;
	struct query *q = NULL;
	const struct raw *lvl = NULL, *scs = NULL;
	int r;

	*out = NULL;
	c.raw = calloc(MAX_KEYS, sizeof *c.raw);
	if (c.raw == NULL)
		return fail(status, op == QUERY_FIND ? QUERY_ST_NOMEM : QUERY_ST_NOMEM_RETRIEVE,
			    err, errlen, "out of memory");
	r = dcm_parser_init(&p, ts, &cb);
	if (r == 0)
		r = dcm_parser_feed(&p, ds, len);
	if (r == 0)
		r = dcm_parser_finish(&p);
	dcm_parser_free(&p);
	if (r < 0) {
		r = fail(status, QUERY_ST_PARSE, err, errlen, "identifier does not parse: %s",
			 c.err[0] ? c.err : dcm_strerror(r));
		goto out;
	}

	q = calloc(1, sizeof *q);
	if (q == NULL || ((q->keys = calloc(c.n + 2, sizeof *q->keys)) == NULL)) {
		r = fail(status, op == QUERY_FIND ? QUERY_ST_NOMEM : QUERY_ST_NOMEM_RETRIEVE, err,
			 errlen, "out of memory");
		goto out;
	}
	q->model = model;
	q->op = op;
	q->pn_ci = g_opt.pn_ci;
	memcpy(q->retrieve_ae, g_opt.retrieve_ae, sizeof q->retrieve_ae);
	if (g_opt.root[0] != '\0' && (q->root = strdup(g_opt.root)) == NULL) {
		r = fail(status, op == QUERY_FIND ? QUERY_ST_NOMEM : QUERY_ST_NOMEM_RETRIEVE, err,
			 errlen, "out of memory");
		goto out;
	}

	/* Query/Retrieve Level (C.4.1.1.3.1) and Specific Character Set first. */
	for (size_t k = 0; k < c.n; k++) {
		if (c.raw[k].tag == DCM_TAG(0x0008, 0x0052))
			lvl = &c.raw[k];
		else if (c.raw[k].tag == DCM_TAG(0x0008, 0x0005))
			scs = &c.raw[k];
	}
	if (lvl == NULL || lvl->sequence) {
		r = fail(status, QUERY_ST_MISMATCH, err, errlen, "no Query/Retrieve Level (0008,0052)");
		goto out;
	}
	{
		const uint8_t *v = lvl->val;
		uint32_t n = lvl->len;
		static const char *const names[] = {"PATIENT", "STUDY", "SERIES", "IMAGE"};
		bool found = false;

		trim_value(&v, &n, "CS");
		for (int l = 0; l < 4 && !found; l++) {
			if (strlen(names[l]) == n && memcmp(v, names[l], n) == 0) {
				q->level = (enum query_level)l;
				found = true;
			}
		}
		if (!found) {
			r = fail(status, QUERY_ST_MISMATCH, err, errlen,
				 "Query/Retrieve Level is not PATIENT, STUDY, SERIES or IMAGE");
			goto out;
		}
		if (model == QUERY_STUDY_ROOT && q->level == QUERY_PATIENT) {
			r = fail(status, QUERY_ST_MISMATCH, err, errlen,
				 "PATIENT level in the Study Root model (PS3.4 C.6.2)");
			goto out;
		}
	}
	if (scs != NULL && !scs->sequence) {
		const uint8_t *v = scs->val;
		uint32_t n = scs->len;

		trim_value(&v, &n, "CS");
		if (n >= sizeof q->charset)
			n = sizeof q->charset - 1;
		memcpy(q->charset, v, n);
		q->charset[n] = '\0';
	}
	q->cs = qcs_from_scs(q->charset);

	/* Private creator of the lesion key block (PS3.5 7.8.1). */
	for (size_t k = 0; k < c.n; k++) {
		const struct raw *rw = &c.raw[k];
		const uint8_t *v = rw->val;
		uint32_t n = rw->len;

		if (DCM_GROUP(rw->tag) != QUERY_PRIVATE_GROUP || DCM_ELEMENT(rw->tag) < 0x10 ||
		    DCM_ELEMENT(rw->tag) > 0xFF || rw->sequence)
			continue;
		trim_value(&v, &n, "LO");
		if (n == strlen(QUERY_PRIVATE_CREATOR) && memcmp(v, QUERY_PRIVATE_CREATOR, n) == 0)
			q->private_block = DCM_ELEMENT(rw->tag);
	}

	for (size_t k = 0; k < c.n; k++) {
		const struct raw *rw = &c.raw[k];
		struct qkey *key;
		const uint8_t *v = rw->val;
		uint32_t n = rw->len;
		unsigned g = DCM_GROUP(rw->tag), e = DCM_ELEMENT(rw->tag);

		if (e == 0x0000)
			continue;                       /* group length: not a key */
		if (g == 0x0000 || g == 0x0002) {
			r = fail(status, QUERY_ST_MISMATCH, err, errlen,
				 "(%04X,%04X) is not an identifier attribute", g, e);
			goto out;
		}
		if (find_key(q, rw->tag) != NULL) {
			r = fail(status, QUERY_ST_PARSE, err, errlen, "(%04X,%04X) twice", g, e);
			goto out;
		}
		key = &q->keys[q->nkeys++];
		key->tag = rw->tag;
		key->returned = true;
		key->def = qkey_find(rw->tag);
		memcpy(key->vr, key->def ? key->def->vr : rw->vr, 3);
		key->sequence = rw->sequence || strcmp(key->vr, "SQ") == 0;
		key->match = key->def ? key->def->match : QM_NONE;
		if (q->private_block != 0 && g == QUERY_PRIVATE_GROUP) {
			if (e == q->private_block) {
				key->match = QM_SPECIAL;
				memcpy(key->vr, "LO", 3);
			} else if (e == (unsigned)(q->private_block << 8 | QUERY_PRIVATE_LESION_ELEM)) {
				key->match = QM_LESION;
				memcpy(key->vr, "CS", 3);
			}
		}
		if (key->sequence) {
			key->value = strdup("");
			if (key->match == QM_SR && q->root != NULL &&
			    key->tag == DCM_TAG(0x0040, 0xA043)) {
				/* C.2.2.2.6: the key item's Code Value, Coding Scheme Designator and
				 * Code Meaning must all match within the stored item */
				static const uint32_t itags[3] = {DCM_TAG(0x0008, 0x0100),
								  DCM_TAG(0x0008, 0x0102),
								  DCM_TAG(0x0008, 0x0104)};
				for (unsigned j = 0; j < rw->nitem; j++) {
					const uint8_t *iv = rw->item[j].val;
					uint32_t il = rw->item[j].len;
					int slot = -1;

					for (int t = 0; t < 3; t++)
						if (rw->item[j].tag == itags[t])
							slot = t;
					trim_value(&iv, &il, slot == 2 ? "LO" : "SH");
					if (slot < 0 || key->item[slot] != NULL) {
						if (il > 0)
							q->unsupported = true;
						continue;
					}
					key->item[slot] = qcs_to_utf8(q->cs, (const char *)iv, il,
								      false);
					if (key->item[slot] == NULL) {
						r = fail(status, QUERY_ST_NOMEM, err, errlen,
							 "out of memory");
						goto out;
					}
					if (strspn(key->item[slot], "*") != strlen(key->item[slot]))
						key->matching = true;
				}
				if (rw->sq_values || rw->items > 1)
					q->unsupported = true;
			} else if (rw->sq_values || rw->nitem > 0) {
				q->unsupported = true;
			}
		} else {
			trim_value(&v, &n, key->vr);
			key->value = qcs_to_utf8(q->cs, (const char *)v, n, true);
			if (key->value == NULL && q->cs == QCS_UTF8) {
				r = fail(status, QUERY_ST_CHARSET, err, errlen,
					 "(%04X,%04X): not valid UTF-8 (ISO_IR 192)", g, e);
				goto out;
			}
			if (key->value != NULL && q->cs == QCS_OTHER && !qcs_is_ascii(key->value) &&
			    key->match != QM_SPECIAL) {
				r = fail(status, QUERY_ST_CHARSET, err, errlen,
					 "Specific Character Set '%s' not supported for non-ASCII keys",
					 q->charset);
				goto out;
			}
		}
		if (key->value == NULL) {
			r = fail(status, op == QUERY_FIND ? QUERY_ST_NOMEM : QUERY_ST_NOMEM_RETRIEVE,
				 err, errlen, "out of memory");
			goto out;
		}

		/* Level rules, baseline hierarchical (C.4.1.2.1, C.4.2.2.1). */
		if (key->match == QM_LESION) {
			if (q->level != QUERY_STUDY) {
				r = fail(status, QUERY_ST_MISMATCH, err, errlen,
					 "(%04X,%04X) Lesion Found is a STUDY level key", g, e);
				goto out;
			}
		} else if (key->def != NULL && !(key->def->flags & QK_ANYLEVEL)) {
			enum query_level kl = qkey_level(key->def, model);

			if (kl > q->level ||
			    (kl < q->level && !(key->def->flags & QK_UNIQUE))) {
				r = fail(status, QUERY_ST_MISMATCH, err, errlen,
					 "(%04X,%04X) is a %s level key, not allowed at %s level", g,
					 e, query_level_name(kl), query_level_name(q->level));
				goto out;
			}
			if (kl < q->level && key->def->flags & QK_UNIQUE && !single_value(key)) {
				r = fail(status, QUERY_ST_MISMATCH, err, errlen,
					 "(%04X,%04X): unique key of the %s level must be a single value",
					 g, e, query_level_name(kl));
				goto out;
			}
			/* Study Root: Patient ID is a required key, not unique */
			if (kl < q->level && model == QUERY_STUDY_ROOT &&
			    key->def->tag == DCM_TAG(0x0010, 0x0020)) {
				r = fail(status, QUERY_ST_MISMATCH, err, errlen,
					 "(0010,0020) not allowed below STUDY level in Study Root");
				goto out;
			}
		}
		if (check_value(q, key, status, err, errlen) < 0) {
			r = -EINVAL;
			goto out;
		}
		if (op != QUERY_FIND && !(key->def && key->def->flags & QK_UNIQUE))
			key->matching = false;          /* C.4.2.1.4.1: only unique keys select */
	}

	/* Unique keys of the levels above (single values) and, for retrieves, of the level. */
	for (int l = model == QUERY_STUDY_ROOT ? QUERY_STUDY : QUERY_PATIENT;
	     l <= (int)q->level; l++) {
		const struct qkey_def *u = qkey_unique((enum query_level)l);
		struct qkey *key = find_key(q, u->tag);

		if (l < (int)q->level && key == NULL) {
			r = fail(status, QUERY_ST_MISMATCH, err, errlen,
				 "(%04X,%04X) unique key of the %s level missing", DCM_GROUP(u->tag),
				 DCM_ELEMENT(u->tag), query_level_name((enum query_level)l));
			goto out;
		}
		if (l == (int)q->level && op != QUERY_FIND &&
		    (key == NULL || key->value[0] == '\0' || has_wildcard(key->value))) {
			r = fail(status, QUERY_ST_MISMATCH, err, errlen,
				 "(%04X,%04X) unique key of the %s level missing for a retrieve",
				 DCM_GROUP(u->tag), DCM_ELEMENT(u->tag), query_level_name(q->level));
			goto out;
		}
		if (l == (int)q->level && key == NULL) {
			/* C-FIND: the unique key of the level is always returned */
			key = &q->keys[q->nkeys++];
			key->tag = u->tag;
			key->def = u;
			memcpy(key->vr, u->vr, 3);
			key->match = u->match;
			key->returned = true;
			key->value = strdup("");
			if (key->value == NULL) {
				r = fail(status, QUERY_ST_NOMEM, err, errlen, "out of memory");
				goto out;
			}
		}
	}
	/* Query/Retrieve Level and Specific Character Set are always in the response. */
	if (find_key(q, DCM_TAG(0x0008, 0x0005)) == NULL) {
		struct qkey *key = &q->keys[q->nkeys++];

		key->tag = DCM_TAG(0x0008, 0x0005);
		key->def = qkey_find(key->tag);
		memcpy(key->vr, "CS", 3);
		key->match = QM_SPECIAL;
		key->returned = true;
		key->value = strdup("");
		if (key->value == NULL) {
			r = fail(status, QUERY_ST_NOMEM, err, errlen, "out of memory");
			goto out;
		}
	}
	for (size_t k = 0; k < q->nkeys; k++) {
		if (q->keys[k].match != QM_SR || q->root == NULL || op != QUERY_FIND)
			continue;
		q->sr_file = true;
		if (q->keys[k].matching)
			q->sr_filter = true;
	}
	qsort(q->keys, q->nkeys, sizeof *q->keys, cmp_key);
	*out = q;
	q = NULL;
	r = 0;
out:
	for (size_t k = 0; k < c.n; k++)
		free(c.raw[k].cap);
	free(c.raw);
	query_free(q);
	return r;
}
