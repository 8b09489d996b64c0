/*
 * The SR document keys of the IMAGE level (PS3.4 C.6.1.1.5.1 / C.6.2.1.4.1, DICOM-FACTS.md
 * 4.8): Content Date/Time, Completion and Verification Flag, Concept Name Code Sequence and
 * Content Template Sequence are not in the index, so for SR instances they are read from the
 * stored file (the top-level attributes before the content tree: reading stops at the first tag
 * after (0040,A504)). Also the matching rules evaluated in C on such values (wild card, range,
 * sequence item). File I/O only; no SQLite.
 */
#include "query/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dicom/parser.h"
#include "dicom/part10.h"

#define CHUNK 65536
#define STOP_TAG DCM_TAG(0x0040, 0xA504)   /* nothing needed after it */
#define MAX_SR_READ (64u << 20)            /* bytes read from one file at most */

struct load {
	struct qsr *sr;
	char charset[65];
	uint32_t top;          /* current top-level element */
	unsigned items;        /* items seen in the current top-level sequence */
};

static void copy_val(char *dst, size_t cap, const uint8_t *v, size_t len)
{
	if (len >= cap)
		len = cap - 1;
	memcpy(dst, v, len);
	dst[len] = '\0';
	while (len > 0 && (dst[len - 1] == ' ' || dst[len - 1] == '\0'))
		dst[--len] = '\0';
	size_t lead = strspn(dst, " ");
	if (lead)
		memmove(dst, dst + lead, strlen(dst + lead) + 1);
}

static int l_elem(void *ctx, const struct dcm_elem *e)
{
	struct load *l = ctx;

	if (e->depth == 0) {
		if (e->tag > STOP_TAG)
			return -ECANCELED;
		l->top = e->tag;
		l->items = 0;
		switch (e->tag) {
		case DCM_TAG(0x0008, 0x0005):
		case DCM_TAG(0x0008, 0x0023):
		case DCM_TAG(0x0008, 0x0033):
		case DCM_TAG(0x0040, 0xA491):
		case DCM_TAG(0x0040, 0xA493):
			return DCM_WANT_VALUE;
		}
		return 0;
	}
	if (e->depth == 1 && l->items == 1 &&
	    (l->top == DCM_TAG(0x0040, 0xA043) || l->top == DCM_TAG(0x0040, 0xA504)))
		return DCM_WANT_VALUE;
	return 0;
}

static int l_item(void *ctx, const struct dcm_elem *e)
{
	struct load *l = ctx;

	if (e->depth == 1)
		l->items++;
	return 0;
}

static int l_value(void *ctx, const struct dcm_elem *e, const uint8_t *v, size_t len)
{
	struct load *l = ctx;
	struct qsr *sr = l->sr;

	if (e->depth == 0) {
		switch (e->tag) {
		case DCM_TAG(0x0008, 0x0005): copy_val(l->charset, sizeof l->charset, v, len); break;
		case DCM_TAG(0x0008, 0x0023):
			copy_val(sr->content_date, sizeof sr->content_date, v, len);
			break;
		case DCM_TAG(0x0008, 0x0033):
			copy_val(sr->content_time, sizeof sr->content_time, v, len);
			break;
		case DCM_TAG(0x0040, 0xA491):
			copy_val(sr->completion, sizeof sr->completion, v, len);
			break;
		case DCM_TAG(0x0040, 0xA493):
			copy_val(sr->verification, sizeof sr->verification, v, len);
			break;
		}
		return 0;
	}
	if (l->top == DCM_TAG(0x0040, 0xA043)) {
		sr->has_cn = true;
		if (e->tag == DCM_TAG(0x0008, 0x0100))
			copy_val(sr->cn[0], sizeof sr->cn[0], v, len);
		else if (e->tag == DCM_TAG(0x0008, 0x0102))
			copy_val(sr->cn[1], sizeof sr->cn[1], v, len);
		else if (e->tag == DCM_TAG(0x0008, 0x0104))
			copy_val(sr->cn[2], sizeof sr->cn[2], v, len);
	} else if (l->top == DCM_TAG(0x0040, 0xA504)) {
		sr->has_tpl = true;
		if (e->tag == DCM_TAG(0x0008, 0x0105))
			copy_val(sr->tpl[0], sizeof sr->tpl[0], v, len);
		else if (e->tag == DCM_TAG(0x0040, 0xDB00))
			copy_val(sr->tpl[1], sizeof sr->tpl[1], v, len);
	}
	return 0;
}

int qsr_load(const char *root, const char *rel_path, struct qsr *sr)
{
	char path[4096];
	uint8_t *buf = NULL;
	FILE *f = NULL;
	size_t n, off = 0;
	struct dcm_meta meta;
	const struct dcm_ts *ts;
	struct load l = {.sr = sr};
	struct dcm_parser_cb cb = {.ctx = &l, .on_element = l_elem, .on_value = l_value,
				   .on_item = l_item};
	struct dcm_parser p;
	bool pinit = false;
	uint64_t total;
	int r;

	memset(sr, 0, sizeof *sr);
	if ((size_t)snprintf(path, sizeof path, "%s/%s", root, rel_path) >= sizeof path)
		return -ENAMETOOLONG;
	buf = malloc(2 * CHUNK + 8);
	if (buf == NULL)
		return -ENOMEM;
	f = fopen(path, "rb");
	if (f == NULL) {
		r = -errno;
		goto out;
	}
	n = fread(buf, 1, 2 * CHUNK + 8, f);
	r = dcm_part10_read_header(buf, n, &meta, &off);
	if (r < 0)
		goto out;
	ts = dcm_ts_find(meta.ts_uid);
	if (ts == NULL) {
		r = DCM_EMETA;
		goto out;
	}
	r = dcm_parser_init(&p, ts, &cb);
	pinit = true;
	if (r < 0)
		goto out;
	total = n;
	r = dcm_parser_feed(&p, buf + off, n - off);
	while (r == 0 && n > 0 && total < MAX_SR_READ) {
		n = fread(buf, 1, CHUNK, f);
		total += n;
		if (n > 0)
			r = dcm_parser_feed(&p, buf, n);
	}
	if (r == -ECANCELED)
		r = 0;
	else if (r == 0 && ferror(f))
		r = -EIO;
	/* an SR with nothing after the header group is fine: no finish() check needed */
	sr->loaded = r == 0;
	if (r == 0 && l.charset[0] != '\0' && !qcs_is_ascii(sr->cn[2])) {
		enum qcharset cs = qcs_from_scs(l.charset);
		char *u = qcs_to_utf8(cs, sr->cn[2], strlen(sr->cn[2]), false);

		if (u != NULL) {
			snprintf(sr->cn[2], sizeof sr->cn[2], "%s", u);
			free(u);
		}
	}
out:
	if (pinit)
		dcm_parser_free(&p);
	if (f)
		fclose(f);
	free(buf);
	return r;
}

/* ---- matching in C (the same rules find.c writes as SQL) ---- */

static size_t utf8_len(const char *s)
{
	unsigned char c = (unsigned char)*s;

	if (c < 0x80)
		return 1;
	size_t n = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
	for (size_t k = 1; k < n; k++)
		if (s[k] == '\0')
			return k;
	return n;
}

static char fold(char c, bool ci)
{
	return ci && c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
}

/* C.2.2.2.4: '*' any sequence (also empty), '?' one character (a UTF-8 code point). */
static bool wild(const char *p, size_t pn, const char *s, bool ci)
{
	const char *star_p = NULL, *star_s = NULL;
	const char *pe = p + pn;

	while (*s) {
		if (p < pe && *p == '*') {
			star_p = ++p;
			star_s = s;
		} else if (p < pe && *p == '?') {
			p++;
			s += utf8_len(s);
		} else if (p < pe && fold(*p, ci) == fold(*s, ci)) {
			p++;
			s++;
		} else if (star_p) {
			p = star_p;
			star_s += utf8_len(star_s);
			s = star_s;
		} else {
			return false;
		}
	}
	while (p < pe && *p == '*')
		p++;
	return p == pe;
}

bool qmatch_text(const char *list, const char *value, bool ci)
{
	for (;;) {
		const char *end = strchr(list, '\\');
		size_t n = end ? (size_t)(end - list) : strlen(list);

		if (strspn(list, "*") >= n || wild(list, n, value, ci))
			return true;
		if (end == NULL)
			return false;
		list = end + 1;
	}
}

bool qmatch_range(const char *range, const char *value, bool time)
{
	const char *dash = strchr(range, '-');
	size_t a = dash ? (size_t)(dash - range) : strlen(range);
	const char *bs = dash ? dash + 1 : range;
	size_t b = dash ? strlen(bs) : a;
	char v[14], lo[14], hi[14];

	if (value[0] == '\0')
		return false;
	if (!time) {
		if (a > 0 && strncmp(value, range, a) < 0)
			return false;
		if (b > 0 && strncmp(value, bs, b) > 0)
			return false;
		return true;
	}
	if (qtm_norm(value, strlen(value), false, v) < 0)
		return false;
	if (a > 0 && (qtm_norm(range, a, false, lo) < 0 || strcmp(v, lo) < 0))
		return false;
	if (b > 0 && (qtm_norm(bs, b, true, hi) < 0 || strcmp(v, hi) > 0))
		return false;
	return true;
}
