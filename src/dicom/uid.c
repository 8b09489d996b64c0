/*
 * UID validity (PS3.5 9.1), value trimming (PS3.5 6.2) and the transfer syntax table
 * (PS3.5 10 and Annex A; UIDs from PS3.6 Annex A). Ranks follow the project policy: lossless
 * compressed syntaxes dcmtk decodes > Explicit VR LE > Implicit VR LE > Deflated > Explicit
 * VR BE > lossy JPEG; syntaxes dcmtk 3.6.7 cannot decode (JPEG 2000, HTJ2K, video, JPEG XL)
 * are known, so they can be named in logs, but not accepted.
 */
#include <string.h>

#include "dicom/uid.h"

bool dcm_uid_valid(const char *s)
{
	size_t n, comp = 0;

	if (s == NULL || s[0] == '\0')
		return false;
	n = strlen(s);
	if (n > 64)
		return false;
	for (size_t i = 0; i <= n; i++) {
		char c = s[i];
		if (c == '.' || c == '\0') {
			if (comp == 0)
				return false; /* empty component (leading, trailing or "..") */
			comp = 0;
		} else if (c >= '0' && c <= '9') {
			if (comp == 1 && s[i - 1] == '0')
				return false; /* multi-digit component starting with 0 */
			comp++;
		} else {
			return false;
		}
	}
	return true;
}

void dcm_trim(char *s)
{
	size_t n = strlen(s);

	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\0'))
		n--;
	s[n] = '\0';
}

#define TS(uid, name, ex, be, df, enc, acc, rank) { uid, name, ex, be, df, enc, acc, rank }

static const struct dcm_ts ts_table[] = {
	/*  uid                              name                                     expl  BE     defl   encap  acc    rank */
	TS(DCM_TS_IMPLICIT_LE, "Implicit VR Little Endian", false, false, false, false, true, 70),
	TS(DCM_TS_EXPLICIT_LE, "Explicit VR Little Endian", true, false, false, false, true, 80),
	TS(DCM_TS_DEFLATED_LE, "Deflated Explicit VR Little Endian", true, false, true, false, true, 60),
	TS(DCM_TS_EXPLICIT_BE, "Explicit VR Big Endian", true, true, false, false, true, 50),
	TS("1.2.840.10008.1.2.4.50", "JPEG Baseline (Process 1)", true, false, false, true, true, 32),
	TS("1.2.840.10008.1.2.4.51", "JPEG Extended (Process 2 & 4)", true, false, false, true, true, 31),
	TS("1.2.840.10008.1.2.4.57", "JPEG Lossless, Non-Hierarchical (Process 14)", true, false, false, true, true, 92),
	TS("1.2.840.10008.1.2.4.70", "JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])", true, false, false, true, true, 93),
	TS("1.2.840.10008.1.2.4.80", "JPEG-LS Lossless", true, false, false, true, true, 91),
	TS("1.2.840.10008.1.2.4.81", "JPEG-LS Lossy (Near-Lossless)", true, false, false, true, true, 30),
	TS(DCM_TS_RLE, "RLE Lossless", true, false, false, true, true, 90),
	TS("1.2.840.10008.1.2.4.90", "JPEG 2000 Image Compression (Lossless Only)", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.91", "JPEG 2000 Image Compression", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.92", "JPEG 2000 Part 2 Multi-component Image Compression (Lossless Only)", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.93", "JPEG 2000 Part 2 Multi-component Image Compression", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.94", "JPIP Referenced", true, false, false, false, false, 0),
	TS("1.2.840.10008.1.2.4.95", "JPIP Referenced Deflate", true, false, true, false, false, 0),
	TS("1.2.840.10008.1.2.4.100", "MPEG2 Main Profile / Main Level", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.101", "MPEG2 Main Profile / High Level", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.107", "HEVC/H.265 Main Profile / Level 5.1", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.108", "HEVC/H.265 Main 10 Profile / Level 5.1", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.201", "High-Throughput JPEG 2000 Image Compression (Lossless Only)", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.202", "High-Throughput JPEG 2000 with RPCL Options Image Compression (Lossless Only)", true, false, false, true, false, 0),
	TS("1.2.840.10008.1.2.4.203", "High-Throughput JPEG 2000 Image Compression", true, false, false, true, false, 0),
};

const struct dcm_ts *dcm_ts_find(const char *uid)
{
	if (uid == NULL)
		return NULL;
	for (size_t i = 0; i < sizeof ts_table / sizeof ts_table[0]; i++)
		if (strcmp(ts_table[i].uid, uid) == 0)
			return &ts_table[i];
	return NULL;
}

const struct dcm_ts *dcm_ts_all(size_t *n)
{
	*n = sizeof ts_table / sizeof ts_table[0];
	return ts_table;
}

const struct dcm_ts *dcm_ts_choose(const char *const *uids, size_t n)
{
	const struct dcm_ts *best = NULL;

	for (size_t i = 0; i < n; i++) {
		const struct dcm_ts *t = dcm_ts_find(uids[i]);
		if (t && t->accepted && (best == NULL || t->rank > best->rank))
			best = t;
	}
	return best;
}
