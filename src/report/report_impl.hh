/* report_impl.hh: helpers shared by the C++ files of the dcmtk adapter (src/report/, C++);
 * not part of the C API. Owns the one-time dcmtk set-up and the error-string convention. */
#ifndef DICOMAID_REPORT_IMPL_HH
#define DICOMAID_REPORT_IMPL_HH

#include "report/report.h"

#include <dcmtk/config/osconfig.h>
#include <dcmtk/dcmdata/dctk.h>

namespace report_impl {

/* Registers dcmtk's decoders (JPEG, JPEG-LS, RLE), initialises the SR context groups and the
 * log level, exactly once per process (pthread_once), so that the API may be entered from
 * several threads without a prior set-up call. */
void init_once();

/* Writes a printf-style reason into err (bounded, always NUL-terminated when errlen > 0)
 * and returns code. */
int fail(char *err, size_t errlen, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Copies src into a fixed array dst of size n (truncating, NUL-terminated). */
void copy_str(char *dst, size_t n, const char *src);

/* Puts a string attribute into item; empty strings insert an empty (type 2) element. */
OFCondition put(DcmItem &item, const DcmTagKey &tag, const char *value);

/* Writes ff (meta header regenerated from its data set) to path via path.tmp + rename(2); 0 or REPORT_EIO. */
int save_file(DcmFileFormat &ff, const char *path, char *err, size_t errlen);

/* Current local date (YYYYMMDD) and time (HHMMSS) as DA/TM strings. */
void now_da_tm(char da[9], char tm[7]);

/* Checks the findings contract shared by the SR and GSPS writers (report.h). */
int check_findings(const report_findings *f, char *err, size_t errlen);

/* Index of the source image a box refers to, or -1. */
long find_image(const report_findings *f, const report_box *b);

} // namespace report_impl

#endif
