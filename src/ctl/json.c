/*
 * The JSON writer, flat-object reader and validator (see json.h). RFC 8259: strings are
 * UTF-8 with '"', '\\' and U+0000..U+001F escaped; numbers are -?int frac? exp?.
 */
#include "ctl/json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t utf8_len(const unsigned char *s, size_t len, size_t i);

/* ---- writer ---------------------------------------------------------------------- */

void jb_init(struct jbuf *b)
{
	memset(b, 0, sizeof *b);
	b->first[0] = true;
}

void jb_free(struct jbuf *b)
{
	free(b->p);
	memset(b, 0, sizeof *b);
}

static void put(struct jbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (b->len + n + 1 > cap)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void jb_raw(struct jbuf *b, const char *s)
{
	put(b, s, strlen(s));
}

/* Before any value: a comma unless it is the first at this depth or follows its key. */
static void before_value(struct jbuf *b)
{
	if (b->after_key) {
		b->after_key = false;
		return;
	}
	if (!b->first[b->depth])
		put(b, ",", 1);
	b->first[b->depth] = false;
}

static void open_level(struct jbuf *b, char c)
{
	before_value(b);
	put(b, &c, 1);
	if (b->depth + 1 < JSON_MAX_DEPTH)
		b->depth++;
	else
		b->oom = true; /* deeper than we can track: refuse rather than write bad JSON */
	b->first[b->depth] = true;
}

static void close_level(struct jbuf *b, char c)
{
	put(b, &c, 1);
	if (b->depth > 0)
		b->depth--;
}

void jb_obj_begin(struct jbuf *b) { open_level(b, '{'); }
void jb_obj_end(struct jbuf *b) { close_level(b, '}'); }
void jb_arr_begin(struct jbuf *b) { open_level(b, '['); }
void jb_arr_end(struct jbuf *b) { close_level(b, ']'); }

static void put_escaped(struct jbuf *b, const char *s)
{
	put(b, "\"", 1);
	const unsigned char *base = (const unsigned char *)s;
	size_t slen = strlen(s);
	for (const unsigned char *p = base; *p; p++) {
		const char *esc = NULL;
		if (*p >= 0x80) {
			/* Valid UTF-8 as is; any other byte becomes U+FFFD, so the output is
			 * always valid JSON whatever character set the stored text is in. */
			size_t n = utf8_len(base, slen, (size_t)(p - base));
			if (n == 0) {
				put(b, "\\ufffd", 6);
			} else {
				put(b, (const char *)p, n);
				p += n - 1;
			}
			continue;
		}
		char u[8];
		switch (*p) {
		case '"': esc = "\\\""; break;
		case '\\': esc = "\\\\"; break;
		case '\n': esc = "\\n"; break;
		case '\r': esc = "\\r"; break;
		case '\t': esc = "\\t"; break;
		case '\b': esc = "\\b"; break;
		case '\f': esc = "\\f"; break;
		default:
			if (*p < 0x20) {
				snprintf(u, sizeof u, "\\u%04x", *p);
				esc = u;
			}
		}
		if (esc)
			put(b, esc, strlen(esc));
		else
			put(b, (const char *)p, 1);
	}
	put(b, "\"", 1);
}

void jb_key(struct jbuf *b, const char *key)
{
	before_value(b);
	put_escaped(b, key);
	put(b, ":", 1);
	b->after_key = true;
}

void jb_str(struct jbuf *b, const char *s)
{
	if (!s) {
		jb_null(b);
		return;
	}
	before_value(b);
	put_escaped(b, s);
}

void jb_int(struct jbuf *b, int64_t v)
{
	char t[32];
	before_value(b);
	snprintf(t, sizeof t, "%" PRId64, v);
	put(b, t, strlen(t));
}

void jb_real(struct jbuf *b, double v)
{
	if (!isfinite(v)) {
		jb_null(b);
		return;
	}
	char t[40];
	before_value(b);
	snprintf(t, sizeof t, "%.6g", v);
	put(b, t, strlen(t));
}

void jb_bool(struct jbuf *b, bool v)
{
	before_value(b);
	jb_raw(b, v ? "true" : "false");
}

void jb_null(struct jbuf *b)
{
	before_value(b);
	jb_raw(b, "null");
}

/* ---- shared scanning ------------------------------------------------------------- */

static void skip_ws(const char *s, size_t len, size_t *i)
{
	while (*i < len && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n' || s[*i] == '\r'))
		(*i)++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int hex4(const char *s, size_t len, size_t i, unsigned *out)
{
	if (i + 4 > len)
		return -1;
	unsigned v = 0;
	for (int k = 0; k < 4; k++) {
		int h = hexval(s[i + (size_t)k]);
		if (h < 0)
			return -1;
		v = v << 4 | (unsigned)h;
	}
	*out = v;
	return 0;
}

/* Length of the valid UTF-8 sequence at s[i] (RFC 3629), or 0. */
static size_t utf8_len(const unsigned char *s, size_t len, size_t i)
{
	unsigned char c = s[i];
	size_t n;
	unsigned min, cp;
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf) { n = 2; cp = c & 0x1f; min = 0x80; }
	else if (c >= 0xe0 && c <= 0xef) { n = 3; cp = c & 0x0f; min = 0x800; }
	else if (c >= 0xf0 && c <= 0xf4) { n = 4; cp = c & 0x07; min = 0x10000; }
	else
		return 0;
	if (i + n > len)
		return 0;
	for (size_t k = 1; k < n; k++) {
		if ((s[i + k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i + k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * A string starting at s[*i] == '"'. Unescaped UTF-8 goes to out (cap bytes, NUL
 * terminated) when out != NULL. Returns 0 with *i past the closing quote, -1 on error
 * (*i at the offending byte) or -2 when out is too small.
 */
static int scan_string(const char *s, size_t len, size_t *i, char *out, size_t cap)
{
	size_t o = 0;
	if (*i >= len || s[*i] != '"')
		return -1;
	(*i)++;
	while (*i < len) {
		unsigned char c = (unsigned char)s[*i];
		char tmp[4];
		size_t tn = 0;
		if (c == '"') {
			(*i)++;
			if (out)
				out[o] = '\0';
			return 0;
		}
		if (c < 0x20)
			return -1;
		if (c == '\\') {
			if (*i + 1 >= len)
				return -1;
			char e = s[*i + 1];
			const char *simple = strchr("\"\\/bfnrt", e);
			if (e && simple) {
				static const char map[] = "\"\\/\b\f\n\r\t";
				tmp[0] = map[simple - "\"\\/bfnrt"];
				tn = 1;
				*i += 2;
			} else if (e == 'u') {
				unsigned cp;
				if (hex4(s, len, *i + 2, &cp) < 0)
					return -1;
				*i += 6;
				if (cp >= 0xd800 && cp <= 0xdbff) {
					unsigned lo;
					if (*i + 1 >= len || s[*i] != '\\' || s[*i + 1] != 'u' ||
					    hex4(s, len, *i + 2, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
						return -1;
					*i += 6;
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				} else if (cp >= 0xdc00 && cp <= 0xdfff) {
					return -1;
				}
				if (cp < 0x80) {
					tmp[tn++] = (char)cp;
				} else if (cp < 0x800) {
					tmp[tn++] = (char)(0xc0 | cp >> 6);
					tmp[tn++] = (char)(0x80 | (cp & 0x3f));
				} else if (cp < 0x10000) {
					tmp[tn++] = (char)(0xe0 | cp >> 12);
					tmp[tn++] = (char)(0x80 | ((cp >> 6) & 0x3f));
					tmp[tn++] = (char)(0x80 | (cp & 0x3f));
				} else {
					tmp[tn++] = (char)(0xf0 | cp >> 18);
					tmp[tn++] = (char)(0x80 | ((cp >> 12) & 0x3f));
					tmp[tn++] = (char)(0x80 | ((cp >> 6) & 0x3f));
					tmp[tn++] = (char)(0x80 | (cp & 0x3f));
				}
			} else {
				return -1;
			}
		} else {
			tn = utf8_len((const unsigned char *)s, len, *i);
			if (tn == 0)
				return -1;
			memcpy(tmp, s + *i, tn);
			*i += tn;
		}
		if (out) {
			if (o + tn + 1 > cap)
				return -2;
			memcpy(out + o, tmp, tn);
			o += tn;
		}
	}
	return -1;
}

/* A number at s[*i] (RFC 8259 6). */
static int scan_number(const char *s, size_t len, size_t *i)
{
	size_t j = *i;
	if (j < len && s[j] == '-')
		j++;
	if (j >= len)
		return -1;
	if (s[j] == '0') {
		j++;
	} else if (s[j] >= '1' && s[j] <= '9') {
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++;
	} else {
		return -1;
	}
	if (j < len && s[j] == '.') {
		j++;
		if (j >= len || s[j] < '0' || s[j] > '9')
			return -1;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++;
	}
	if (j < len && (s[j] == 'e' || s[j] == 'E')) {
		j++;
		if (j < len && (s[j] == '+' || s[j] == '-'))
			j++;
		if (j >= len || s[j] < '0' || s[j] > '9')
			return -1;
		while (j < len && s[j] >= '0' && s[j] <= '9')
			j++;
	}
	*i = j;
	return 0;
}

static int scan_literal(const char *s, size_t len, size_t *i, const char *lit)
{
	size_t n = strlen(lit);
	if (*i + n > len || memcmp(s + *i, lit, n) != 0)
		return -1;
	*i += n;
	return 0;
}

/* ---- flat reader ----------------------------------------------------------------- */

int json_flat_next(const char *s, size_t len, size_t *pos, struct json_member *m)
{
	size_t i = *pos;
	skip_ws(s, len, &i);
	if (*pos == 0) {
		if (i >= len || s[i] != '{')
			return -1;
		i++;
		skip_ws(s, len, &i);
		if (i < len && s[i] == '}') {
			*pos = i + 1;
			return 0;
		}
	} else {
		if (i < len && s[i] == '}') {
			*pos = i + 1;
			return 0;
		}
		if (i >= len || s[i] != ',')
			return -1;
		i++;
		skip_ws(s, len, &i);
	}
	if (scan_string(s, len, &i, m->key, sizeof m->key) < 0)
		return -1;
	skip_ws(s, len, &i);
	if (i >= len || s[i] != ':')
		return -1;
	i++;
	skip_ws(s, len, &i);
	if (i >= len)
		return -1;
	size_t start = i;
	if (s[i] == '"') {
		m->type = JSON_STRING;
		if (scan_string(s, len, &i, m->value, sizeof m->value) < 0)
			return -1;
	} else {
		if (s[i] == 't') {
			m->type = JSON_TRUE;
			if (scan_literal(s, len, &i, "true") < 0)
				return -1;
		} else if (s[i] == 'f') {
			m->type = JSON_FALSE;
			if (scan_literal(s, len, &i, "false") < 0)
				return -1;
		} else if (s[i] == 'n') {
			m->type = JSON_NULL;
			if (scan_literal(s, len, &i, "null") < 0)
				return -1;
		} else {
			m->type = JSON_NUMBER;
			if (scan_number(s, len, &i) < 0)
				return -1;
		}
		if (i - start >= sizeof m->value)
			return -1;
		memcpy(m->value, s + start, i - start);
		m->value[i - start] = '\0';
	}
	*pos = i;
	return 1;
}

int json_flat_get(const char *s, size_t len, const char *key, struct json_member *m)
{
	size_t pos = 0;
	int rc;
	while ((rc = json_flat_next(s, len, &pos, m)) == 1)
		if (strcmp(m->key, key) == 0)
			return 0;
	return -1;
}

/* ---- validator ------------------------------------------------------------------- */

static int val_value(const char *s, size_t len, size_t *i, int depth);

static int val_container(const char *s, size_t len, size_t *i, int depth, char close)
{
	if (depth >= JSON_MAX_DEPTH)
		return -1;
	(*i)++;
	skip_ws(s, len, i);
	if (*i < len && s[*i] == close) {
		(*i)++;
		return 0;
	}
	for (;;) {
		skip_ws(s, len, i);
		if (close == '}') {
			if (scan_string(s, len, i, NULL, 0) < 0)
				return -1;
			skip_ws(s, len, i);
			if (*i >= len || s[*i] != ':')
				return -1;
			(*i)++;
		}
		if (val_value(s, len, i, depth + 1) < 0)
			return -1;
		skip_ws(s, len, i);
		if (*i >= len)
			return -1;
		if (s[*i] == close) {
			(*i)++;
			return 0;
		}
		if (s[*i] != ',')
			return -1;
		(*i)++;
	}
}

static int val_value(const char *s, size_t len, size_t *i, int depth)
{
	skip_ws(s, len, i);
	if (*i >= len)
		return -1;
	switch (s[*i]) {
	case '{': return val_container(s, len, i, depth, '}');
	case '[': return val_container(s, len, i, depth, ']');
	case '"': return scan_string(s, len, i, NULL, 0);
	case 't': return scan_literal(s, len, i, "true");
	case 'f': return scan_literal(s, len, i, "false");
	case 'n': return scan_literal(s, len, i, "null");
	default: return scan_number(s, len, i);
	}
}

int json_validate(const char *s, size_t len, size_t *err_at)
{
	size_t i = 0;
	int rc = val_value(s, len, &i, 0);
	if (rc == 0) {
		skip_ws(s, len, &i);
		if (i != len)
			rc = -1;
	}
	if (rc < 0 && err_at)
		*err_at = i;
	return rc < 0 ? -1 : 0;
}
