/*
 * JSON for the control protocol and dicomaidctl --json (RFC 8259): a writer that escapes
 * every string it is given, a reader for the one shape the daemon sends (a flat object of
 * strings, integers, booleans and nulls), and a validator for whole documents (used by
 * the tests). Pure code: no I/O, no libuv, no SQLite.
 */
#ifndef DICOMAID_CTL_JSON_H
#define DICOMAID_CTL_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32

/*
 * A growing output buffer. Commas are placed by the writer: call jb_key before each member
 * of an object and nothing before the elements of an array. Allocation failure sets oom
 * and later calls do nothing; check it (or jb_take's NULL) at the end.
 */
struct jbuf {
	char *p;                      /* NUL-terminated text; owned, freed by jb_free */
	size_t len, cap;
	bool oom;
	int depth;
	bool first[JSON_MAX_DEPTH];   /* no member/element written yet at this depth */
	bool after_key;               /* the next value belongs to the key just written */
};

void jb_init(struct jbuf *b);
void jb_free(struct jbuf *b);
void jb_obj_begin(struct jbuf *b);
void jb_obj_end(struct jbuf *b);
void jb_arr_begin(struct jbuf *b);
void jb_arr_end(struct jbuf *b);
void jb_key(struct jbuf *b, const char *key);
/* A string value; s == NULL writes null. Bytes >= 0x80 are copied as they are (the
 * caller passes UTF-8); control characters, '"' and '\\' are escaped. */
void jb_str(struct jbuf *b, const char *s);
void jb_int(struct jbuf *b, int64_t v);
/* A number with 6 significant digits; NaN and infinities (not JSON) are written null. */
void jb_real(struct jbuf *b, double v);
void jb_bool(struct jbuf *b, bool v);
void jb_null(struct jbuf *b);
/* Appends raw text (no comma logic): for a newline between documents. */
void jb_raw(struct jbuf *b, const char *s);

/* One member of a flat object, as read by json_flat_next. */
enum json_type { JSON_STRING, JSON_NUMBER, JSON_TRUE, JSON_FALSE, JSON_NULL };
struct json_member {
	char key[64];
	enum json_type type;
	char value[1024];             /* unescaped string, or the number's text */
};

/*
 * Reads the next member of a flat JSON object in s[0..len) starting at *pos (0 for the
 * first call). Returns 1 with *m filled and *pos advanced, 0 at the closing brace, or -1
 * when the text is not a flat object of strings/numbers/literals, or a key or value does
 * not fit m. Pure; bounded by len.
 */
int json_flat_next(const char *s, size_t len, size_t *pos, struct json_member *m);

/* Finds key in the flat object s (whole text); 0 with *m filled, -1 if absent or invalid. */
int json_flat_get(const char *s, size_t len, const char *key, struct json_member *m);

/*
 * Is s[0..len) one JSON value (RFC 8259), optionally surrounded by white space, nested at
 * most JSON_MAX_DEPTH deep, with valid UTF-8 in its strings? Returns 0, or -1 with the
 * offset of the first error in *err_at (may be NULL).
 */
int json_validate(const char *s, size_t len, size_t *err_at);

#endif
