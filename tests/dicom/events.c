/*
 * See events.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "events.h"

void vb_init(struct vb *v, bool explicit_vr, bool big_endian)
{
	memset(v, 0, sizeof *v);
	v->ex = explicit_vr;
	v->be = big_endian;
}

void vb_free(struct vb *v)
{
	free(v->d);
	v->d = NULL;
	v->n = v->cap = 0;
}

void vb_raw(struct vb *v, const void *data, size_t n)
{
	if (v->n + n > v->cap) {
		v->cap = (v->n + n) * 2 + 64;
		v->d = realloc(v->d, v->cap);
		cr_assert(v->d != NULL);
	}
	if (n)
		memcpy(v->d + v->n, data, n);
	v->n += n;
}

void vb_u16(struct vb *v, uint16_t x)
{
	uint8_t b[2];
	if (v->be) {
		b[0] = (uint8_t)(x >> 8);
		b[1] = (uint8_t)x;
	} else {
		b[0] = (uint8_t)x;
		b[1] = (uint8_t)(x >> 8);
	}
	vb_raw(v, b, 2);
}

void vb_u32(struct vb *v, uint32_t x)
{
	if (v->be) {
		vb_u16(v, (uint16_t)(x >> 16));
		vb_u16(v, (uint16_t)x);
	} else {
		vb_u16(v, (uint16_t)x);
		vb_u16(v, (uint16_t)(x >> 16));
	}
}

void vb_hdr(struct vb *v, uint32_t tag, const char *vr, uint32_t len)
{
	vb_u16(v, (uint16_t)(tag >> 16));
	vb_u16(v, (uint16_t)tag);
	if (!v->ex) {
		vb_u32(v, len);
		return;
	}
	vb_raw(v, vr, 2);
	if (dcm_vr_is_long(vr)) {
		vb_u16(v, 0);
		vb_u32(v, len);
	} else {
		vb_u16(v, (uint16_t)len);
	}
}

void vb_el(struct vb *v, uint32_t tag, const char *vr, const void *data, uint32_t len)
{
	vb_hdr(v, tag, vr, len);
	vb_raw(v, data, len);
}

void vb_str(struct vb *v, uint32_t tag, const char *vr, const char *s)
{
	vb_el(v, tag, vr, s, (uint32_t)strlen(s));
}

void vb_item(struct vb *v, uint32_t tag, uint32_t len)
{
	vb_u16(v, (uint16_t)(tag >> 16));
	vb_u16(v, (uint16_t)tag);
	vb_u32(v, len);
}

struct rec {
	char *s;
	size_t n, cap;
	unsigned cap_max;
};

static void rec_printf(struct rec *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rec_printf(struct rec *r, const char *fmt, ...)
{
	va_list ap;
	int k;

	for (;;) {
		va_start(ap, fmt);
		k = vsnprintf(r->s + r->n, r->cap - r->n, fmt, ap);
		va_end(ap);
		cr_assert(k >= 0);
		if ((size_t)k < r->cap - r->n)
			break;
		r->cap = r->cap * 2 + (size_t)k + 256;
		r->s = realloc(r->s, r->cap);
		cr_assert(r->s != NULL);
	}
	r->n += (size_t)k;
}

static void rec_elem(struct rec *r, char kind, const struct dcm_elem *e)
{
	rec_printf(r, "%c (%04X,%04X) %s len=%u d=%u off=%llu%s\n", kind, e->tag >> 16,
		   e->tag & 0xFFFF, e->vr[0] ? e->vr : "-", (unsigned)e->length, e->depth,
		   (unsigned long long)e->value_offset, e->big_endian ? " BE" : "");
}

static int on_element(void *ctx, const struct dcm_elem *e)
{
	struct rec *r = ctx;
	rec_elem(r, 'E', e);
	return e->length <= r->cap_max ? DCM_WANT_VALUE : 0;
}

static int on_item(void *ctx, const struct dcm_elem *e)
{
	struct rec *r = ctx;
	rec_elem(r, 'I', e);
	return e->length <= r->cap_max ? DCM_WANT_VALUE : 0;
}

static int on_end(void *ctx, const struct dcm_elem *e)
{
	rec_elem(ctx, 'X', e);
	return 0;
}

static int on_value(void *ctx, const struct dcm_elem *e, const uint8_t *val, size_t len)
{
	struct rec *r = ctx;
	cr_assert_eq(len, e->length);
	rec_printf(r, "V ");
	for (size_t i = 0; i < len; i++)
		rec_printf(r, "%02x", val[i]);
	rec_printf(r, "\n");
	return 0;
}

int ev_parse(const struct dcm_ts *ts, const uint8_t *d, size_t n, size_t first, size_t step,
	     char **text, unsigned cap_max)
{
	struct rec r = {.cap_max = cap_max};
	struct dcm_parser_cb cb = {.ctx = &r, .on_element = on_element, .on_value = on_value,
				   .on_item = on_item, .on_end = on_end};
	struct dcm_parser p;
	int rc;
	size_t off;

	r.cap = 1024;
	r.s = malloc(r.cap);
	cr_assert(r.s != NULL);
	r.s[0] = '\0';
	rc = dcm_parser_init(&p, ts, &cb);
	cr_assert_eq(rc, 0);
	if (first > n)
		first = n;
	rc = dcm_parser_feed(&p, d, first);
	for (off = first; rc == 0 && off < n;) {
		size_t k = step == 0 || step > n - off ? n - off : step;
		rc = dcm_parser_feed(&p, d + off, k);
		off += k;
	}
	if (rc == 0)
		rc = dcm_parser_finish(&p);
	if (rc)
		rec_printf(&r, "RC %d\n", rc);
	dcm_parser_free(&p);
	dcm_parser_free(&p); /* twice is allowed */
	*text = r.s;
	return rc;
}

char *ev_check_splits(const struct dcm_ts *ts, const uint8_t *d, size_t n, int *rc)
{
	char *whole, *other;
	int rc2;

	*rc = ev_parse(ts, d, n, n, 0, &whole, 64);
	for (size_t k = 0; k <= n; k++) {
		rc2 = ev_parse(ts, d, n, k, 0, &other, 64);
		cr_assert_eq(rc2, *rc, "split at %zu: rc %d != %d", k, rc2, *rc);
		cr_assert_str_eq(other, whole, "split at %zu differs", k);
		free(other);
	}
	rc2 = ev_parse(ts, d, n, 0, 1, &other, 64);
	cr_assert_eq(rc2, *rc);
	cr_assert_str_eq(other, whole, "byte-by-byte differs");
	free(other);
	rc2 = ev_parse(ts, d, n, 0, 3, &other, 64);
	cr_assert_str_eq(other, whole, "3-byte chunks differ");
	free(other);
	return whole;
}
