/*
 * The character sets a Query/Retrieve identifier may use (PS3.5 6.1.2, PS3.3 C.12.1.1.2):
 * the default repertoire, ISO_IR 100 (Latin-1) and ISO_IR 192 (UTF-8). Keys are matched in
 * UTF-8; stored values are converted for responses. Also the TM normalisation that range
 * matching uses. Pure functions; the converters allocate their result.
 */
#include "query/internal.h"

#include <stdlib.h>
#include <string.h>

static bool scs_is(const char *s, size_t n, const char *name)
{
	return strlen(name) == n && memcmp(s, name, n) == 0;
}

enum qcharset qcs_from_scs(const char *scs)
{
	/* The first value names the charset of the whole value when no code extensions are
	 * used; an empty first value (with extensions after it) is the default repertoire. */
	const char *end = strchr(scs, '\\');
	size_t n = end ? (size_t)(end - scs) : strlen(scs);

	while (n > 0 && scs[n - 1] == ' ')
		n--;
	while (n > 0 && *scs == ' ') {
		scs++;
		n--;
	}
	if (n == 0 && end != NULL)   /* "\\ISO 2022 IR 100": G1 extension only */
		return qcs_from_scs(end + 1) == QCS_LATIN1 ? QCS_LATIN1 : QCS_OTHER;
	if (n == 0 || scs_is(scs, n, "ISO_IR 6") || scs_is(scs, n, "ISO 2022 IR 6"))
		return QCS_DEFAULT;
	if (scs_is(scs, n, "ISO_IR 100") || scs_is(scs, n, "ISO 2022 IR 100"))
		return QCS_LATIN1;
	if (scs_is(scs, n, "ISO_IR 192"))
		return QCS_UTF8;
	return QCS_OTHER;
}

bool qcs_is_ascii(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s >= 0x80)
			return false;
	return true;
}

static bool utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n >= len)
			return false;
		for (size_t k = 1; k <= n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

char *qcs_to_utf8(enum qcharset cs, const char *src, size_t len, bool strict)
{
	const unsigned char *s = (const unsigned char *)src;
	char *out, *o;

	if (cs == QCS_UTF8 || cs == QCS_OTHER) {
		if (cs == QCS_UTF8 && strict && !utf8_valid(s, len))
			return NULL;
		out = malloc(len + 1);
		if (out == NULL)
			return NULL;
		memcpy(out, src, len);
		out[len] = '\0';
		return out;
	}
	out = malloc(2 * len + 1);
	if (out == NULL)
		return NULL;
	o = out;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x80) {
			*o++ = (char)s[i];
		} else {
			*o++ = (char)(0xC0 | s[i] >> 6);
			*o++ = (char)(0x80 | (s[i] & 0x3F));
		}
	}
	*o = '\0';
	return out;
}

char *qcs_utf8_to_latin1(const char *str, bool *unrepresentable)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t len = strlen(str);
	char *out = malloc(len + 1), *o = out;

	*unrepresentable = false;
	if (out == NULL)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x80) {
			*o++ = (char)s[i];
		} else if ((s[i] == 0xC2 || s[i] == 0xC3) && i + 1 < len &&
			   (s[i + 1] & 0xC0) == 0x80) {
			*o++ = (char)((s[i] & 0x03) << 6 | (s[i + 1] & 0x3F));
			i++;
		} else {
			*unrepresentable = true;
			free(out);
			return NULL;
		}
	}
	*o = '\0';
	return out;
}

/* PS3.5 6.2 TM: HH[MM[SS[.F{1,6}]]]; the ACR-NEMA form HH:MM:SS is accepted too. */
int qtm_norm(const char *tm, size_t len, bool high, char out[14])
{
	char d[16];
	size_t n = 0, i = 0;

	while (len > 0 && tm[len - 1] == ' ')
		len--;
	for (; i < len && tm[i] != '.'; i++) {
		if (tm[i] == ':')
			continue;
		if (tm[i] < '0' || tm[i] > '9' || n >= 6)
			return -1;
		d[n++] = tm[i];
	}
	if (n != 2 && n != 4 && n != 6)
		return -1;
	if (i < len && n != 6)
		return -1;
	memcpy(out, d, n);
	for (size_t k = n; k < 6; k++)
		out[k] = high ? ((k % 2 == 0) ? '5' : '9') : '0';
	out[6] = '.';
	size_t f = 0;
	if (i < len) {
		i++; /* '.' */
		for (; i < len; i++) {
			if (tm[i] < '0' || tm[i] > '9' || f >= 6)
				return -1;
			out[7 + f++] = tm[i];
		}
		if (f == 0)
			return -1;
	}
	for (; f < 6; f++)
		out[7 + f] = high ? '9' : '0';
	out[13] = '\0';
	if (out[0] > '2' || (out[0] == '2' && out[1] > '4') || out[2] > '5' || out[4] > '6')
		return -1;
	return 0;
}
