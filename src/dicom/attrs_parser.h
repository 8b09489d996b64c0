/*
 * The attribute collector: a dcm_parser whose callbacks pick the top-level (depth 0)
 * attributes of struct dcm_attrs out of a data set as it streams past. The C-STORE SCP runs
 * it on every PDV fragment while it writes the same bytes to disk; the index rebuild runs it
 * over stored files. No allocation besides the parser's inflate state.
 */
#ifndef DICOMAID_DICOM_ATTRS_PARSER_H
#define DICOMAID_DICOM_ATTRS_PARSER_H

#include "dicom/attrs.h"
#include "dicom/parser.h"

struct dcm_attrs_parser {
	struct dcm_parser p;
	struct dcm_attrs *out;   /* borrowed; filled as values arrive */
};

/* Zero `out` (borrowed, must outlive ap) and prepare to parse a data set in `ts`.
 * Returns as dcm_parser_init(); call dcm_attrs_parser_free() in every case. */
int dcm_attrs_parser_init(struct dcm_attrs_parser *ap, const struct dcm_ts *ts,
			  struct dcm_attrs *out);
/* As dcm_parser_feed() / dcm_parser_finish() / dcm_parser_free(). */
int dcm_attrs_parser_feed(struct dcm_attrs_parser *ap, const uint8_t *buf, size_t len);
int dcm_attrs_parser_finish(struct dcm_attrs_parser *ap);
void dcm_attrs_parser_free(struct dcm_attrs_parser *ap);

/* Parse a whole in-memory data set in one call (convenience for files and tests). */
int dcm_attrs_parse(const struct dcm_ts *ts, const uint8_t *buf, size_t len,
		    struct dcm_attrs *out);

#endif
