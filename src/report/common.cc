/* common.cc: the adapter's shared plumbing: one-time dcmtk set-up (decoder registration, SR
 * context groups, log level), error strings, the findings contract check, UID generation and
 * the temp-file + rename write of a Part 10 file (PS3.10 7.1). */
#include "report/report_impl.hh"

#include <dcmtk/dcmdata/dcrledrg.h>
#include <dcmtk/dcmjpeg/djdecode.h>
#include <dcmtk/dcmjpls/djdecode.h>
#include <dcmtk/dcmsr/cmr/init.h>
#include <dcmtk/oflog/oflog.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

namespace report_impl {

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void do_init()
{
	/* dcmtk would log to stderr; every failure is returned with its reason instead, so its
	 * logger is silenced. DICOMAID_DCMTK_DEBUG in the environment turns dcmtk's own
	 * reasoning on (debug level) when a reason needs explaining. */
	OFLog::configure(getenv("DICOMAID_DCMTK_DEBUG") ? OFLogger::DEBUG_LOG_LEVEL
	                                                : OFLogger::OFF_LOG_LEVEL);
	/* registerCodecs() is not thread-safe itself; after it, DcmCodecList guards use with its
	 * own read/write lock, so concurrent chooseRepresentation() calls are fine. */
	DJDecoderRegistration::registerCodecs();
	DJLSDecoderRegistration::registerCodecs();
	DcmRLEDecoderRegistration::registerCodecs();
	/* The CID classes build their code tables lazily; doing it once here avoids the race
	 * dcmtk's init.h warns about. */
	CMR_ContentMappingResource::initializeAllContextGroups();
	/* Touch the data dictionary so it is loaded before any worker races to load it. */
	(void)dcmDataDict.isDictionaryLoaded();
}

void init_once()
{
	pthread_once(&once, do_init);
}

int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	if (err && errlen > 0) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

void copy_str(char *dst, size_t n, const char *src)
{
	if (n == 0)
		return;
	if (!src)
		src = "";
	size_t len = strlen(src);
	if (len >= n)
		len = n - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

OFCondition put(DcmItem &item, const DcmTagKey &tag, const char *value)
{
	return item.putAndInsertString(DcmTag(tag), value ? value : "");
}

int save_file(DcmFileFormat &ff, const char *path, char *err, size_t errlen)
{
	OFString tmp(path);
	tmp += ".tmp";
	/* EWM_createNewMeta: the meta header (SOP Class/Instance, transfer syntax) is rebuilt
	 * from the data set (PS3.10 7.1). */
	OFCondition c = ff.saveFile(tmp.c_str(), EXS_LittleEndianExplicit, EET_ExplicitLength,
	                            EGL_recalcGL, EPD_noChange, 0, 0, EWM_createNewMeta);
	if (c.bad()) {
		unlink(tmp.c_str());
		return fail(err, errlen, REPORT_EIO, "cannot write %s: %s", tmp.c_str(), c.text());
	}
	if (rename(tmp.c_str(), path) != 0) {
		unlink(tmp.c_str());
		return fail(err, errlen, REPORT_EIO, "cannot rename to %s: %s", path, strerror(errno));
	}
	return 0;
}

void now_da_tm(char da[9], char tm[7])
{
	time_t t = time(NULL);
	struct tm lt;
	localtime_r(&t, &lt);
	strftime(da, 9, "%Y%m%d", &lt);
	strftime(tm, 7, "%H%M%S", &lt);
}

static bool uid_ok(const char *s)
{
	return s && s[0] && DcmUniqueIdentifier::checkStringValue(OFString(s), "1").good();
}

long find_image(const report_findings *f, const report_box *b)
{
	for (size_t i = 0; i < f->n_images; i++)
		if (strcmp(f->images[i].sop_instance_uid, b->sop_instance_uid) == 0 &&
		    f->images[i].frame == b->frame)
			return (long)i;
	return -1;
}

int check_findings(const report_findings *f, char *err, size_t errlen)
{
	if (!f)
		return fail(err, errlen, REPORT_EINVAL, "no findings");
	if (!uid_ok(f->study.study_instance_uid))
		return fail(err, errlen, REPORT_EINVAL, "invalid or empty Study Instance UID");
	if (!f->images || f->n_images == 0)
		return fail(err, errlen, REPORT_EINVAL, "no source images");
	if (f->n_lesions > 0 && !f->lesions)
		return fail(err, errlen, REPORT_EINVAL, "lesion count without lesions");
	for (size_t i = 0; i < f->n_images; i++) {
		const report_source_image *im = &f->images[i];
		if (!uid_ok(im->sop_class_uid) || !uid_ok(im->sop_instance_uid) ||
		    !uid_ok(im->series_instance_uid))
			return fail(err, errlen, REPORT_EINVAL, "source image %zu: invalid UID", i);
		if (im->rows == 0 || im->cols == 0)
			return fail(err, errlen, REPORT_EINVAL, "source image %zu: no rows/columns", i);
	}
	if (!f->algorithm_name[0] || !f->algorithm_version[0])
		return fail(err, errlen, REPORT_EINVAL, "algorithm name and version are required");
	if (!uid_ok(f->device_observer_uid))
		return fail(err, errlen, REPORT_EINVAL, "invalid or empty Device Observer UID");
	for (size_t l = 0; l < f->n_lesions; l++) {
		const report_lesion *les = &f->lesions[l];
		if (!les->tracking_id[0] || !uid_ok(les->tracking_uid))
			return fail(err, errlen, REPORT_EINVAL,
			            "lesion %zu: tracking identifier and UID are required", l);
		for (size_t m = 0; m < l; m++)
			if (strcmp(f->lesions[m].tracking_uid, les->tracking_uid) == 0)
				return fail(err, errlen, REPORT_EINVAL,
				            "lesions %zu and %zu share a Tracking Unique Identifier", m, l);
		if (!(les->probability >= 0.0 && les->probability <= 1.0))
			return fail(err, errlen, REPORT_EINVAL, "lesion %zu: probability not in [0,1]", l);
		if (les->type.value[0] && (!les->type.scheme[0] || !les->type.meaning[0]))
			return fail(err, errlen, REPORT_EINVAL, "lesion %zu: incomplete type code", l);
		if (!les->boxes || les->n_boxes == 0)
			return fail(err, errlen, REPORT_EINVAL, "lesion %zu: no boxes", l);
		for (size_t k = 0; k < les->n_boxes; k++) {
			const report_box *b = &les->boxes[k];
			long i = find_image(f, b);
			if (i < 0)
				return fail(err, errlen, REPORT_EINVAL,
				            "lesion %zu box %zu: image %s is not a source image", l, k,
				            b->sop_instance_uid);
			const report_source_image *im = &f->images[i];
			if (!(b->col_min >= 0 && b->row_min >= 0 && b->col_min < b->col_max &&
			      b->row_min < b->row_max && b->col_max <= (float)im->cols &&
			      b->row_max <= (float)im->rows))
				return fail(err, errlen, REPORT_EINVAL,
				            "lesion %zu box %zu: box outside the image or empty", l, k);
		}
	}
	return 0;
}

} // namespace report_impl

extern "C" void report_new_uid(char out[REPORT_UID_LEN])
{
	/* PS3.5 B.2: "2.25." followed by the decimal value of a 128-bit UUID (version 4). */
	unsigned char b[16];
	size_t got = 0;
	while (got < sizeof b) {
		ssize_t n = getrandom(b + got, sizeof b - got, 0);
		if (n > 0)
			got += (size_t)n;
	}
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	unsigned __int128 v = 0;
	for (size_t i = 0; i < sizeof b; i++)
		v = (v << 8) | b[i];
	char digits[40];
	int n = 0;
	do {
		digits[n++] = (char)('0' + (int)(v % 10));
		v /= 10;
	} while (v != 0);
	char *p = out;
	memcpy(p, "2.25.", 5);
	p += 5;
	while (n > 0)
		*p++ = digits[--n];
	*p = '\0';
}
