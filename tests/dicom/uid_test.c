/*
 * UID validity (PS3.5 9.1), trimming, the transfer syntax table and dcm_strerror.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "dicom/error.h"
#include "dicom/uid.h"

struct uid_case {
	const char *s;
	bool valid;
};

static const struct uid_case uid_cases[] = {
	{"1.2.840.10008.1.2", true},
	{"1.2.840.10008.1.2.4.70", true},
	{"0", true},
	{"0.0", true},
	{"1.20.3", true},
	{"2.25.183397019632319029108732013223820263953", true},
	/* exactly 64 characters */
	{"1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.2444", true},
	/* 65 characters */
	{"1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20.21.22.23.24444", false},
	{"", false},
	{".1.2", false},
	{"1.2.", false},
	{"1..2", false},
	{"1.02", false},
	{"01.2", false},
	{"1.2.00", false},
	{"1.2.a", false},
	{"1.2 ", false},
	{" 1.2", false},
	{"1.2\\1.3", false},
	{"1,2", false},
	{"1.-2", false},
};

Test(uid, validity_table)
{
	cr_assert_eq(strlen(uid_cases[6].s), 64);
	cr_assert_eq(strlen(uid_cases[7].s), 65);
	for (size_t i = 0; i < sizeof uid_cases / sizeof uid_cases[0]; i++)
		cr_expect_eq(dcm_uid_valid(uid_cases[i].s), uid_cases[i].valid, "case %zu \"%s\"", i,
			     uid_cases[i].s);
	cr_assert_not(dcm_uid_valid(NULL));
}

Test(uid, trim)
{
	char a[] = "1.2.3\0", b[] = "MR  ", c[] = "  x ", d[] = "", e[] = " \0 \0";
	dcm_trim(a);
	dcm_trim(b);
	dcm_trim(c);
	dcm_trim(d);
	dcm_trim(e);
	cr_assert_str_eq(a, "1.2.3");
	cr_assert_str_eq(b, "MR");
	cr_assert_str_eq(c, "  x");
	cr_assert_str_eq(d, "");
	cr_assert_str_eq(e, "");
}

Test(ts, table)
{
	size_t n;
	const struct dcm_ts *all = dcm_ts_all(&n);
	const struct dcm_ts *t;

	cr_assert_geq(n, 18);
	for (size_t i = 0; i < n; i++) {
		cr_expect(dcm_uid_valid(all[i].uid), "%s", all[i].uid);
		cr_expect_eq(dcm_ts_find(all[i].uid), &all[i]);
		cr_expect(all[i].accepted == (all[i].rank > 0), "%s", all[i].uid);
		for (size_t j = 0; j < i; j++)
			cr_expect_str_neq(all[i].uid, all[j].uid);
	}
	t = dcm_ts_find("1.2.840.10008.1.2");
	cr_assert_not_null(t);
	cr_assert(!t->explicit_vr && !t->big_endian && !t->deflated && !t->encapsulated && t->accepted);
	t = dcm_ts_find(DCM_TS_EXPLICIT_BE);
	cr_assert(t->explicit_vr && t->big_endian && t->accepted);
	t = dcm_ts_find(DCM_TS_DEFLATED_LE);
	cr_assert(t->explicit_vr && t->deflated && !t->big_endian && t->accepted);
	t = dcm_ts_find(DCM_TS_RLE);
	cr_assert(t->encapsulated && t->accepted);
	t = dcm_ts_find("1.2.840.10008.1.2.4.90");
	cr_assert(t->encapsulated && !t->accepted);
	t = dcm_ts_find("1.2.840.10008.1.2.4.201");
	cr_assert(t && !t->accepted);
	cr_assert_null(dcm_ts_find("1.2.840.10008.1.2.1 "));
	cr_assert_null(dcm_ts_find("1.2.3"));
	cr_assert_null(dcm_ts_find(NULL));
}

static int rank(const char *uid)
{
	const struct dcm_ts *t = dcm_ts_find(uid);
	cr_assert_not_null(t, "%s", uid);
	return t->rank;
}

Test(ts, ranks)
{
	/* lossless compressed > Explicit LE > Implicit LE > deflate > Explicit BE > lossy */
	int lossless = rank("1.2.840.10008.1.2.4.70");
	cr_assert_gt(lossless, rank("1.2.840.10008.1.2.4.57"));
	cr_assert_gt(rank("1.2.840.10008.1.2.4.57"), rank("1.2.840.10008.1.2.4.80"));
	cr_assert_gt(rank("1.2.840.10008.1.2.4.80"), rank(DCM_TS_RLE));
	cr_assert_gt(rank(DCM_TS_RLE), rank(DCM_TS_EXPLICIT_LE));
	cr_assert_gt(rank(DCM_TS_EXPLICIT_LE), rank(DCM_TS_IMPLICIT_LE));
	cr_assert_gt(rank(DCM_TS_IMPLICIT_LE), rank(DCM_TS_DEFLATED_LE));
	cr_assert_gt(rank(DCM_TS_DEFLATED_LE), rank(DCM_TS_EXPLICIT_BE));
	cr_assert_gt(rank(DCM_TS_EXPLICIT_BE), rank("1.2.840.10008.1.2.4.50"));
	cr_assert_gt(rank("1.2.840.10008.1.2.4.50"), rank("1.2.840.10008.1.2.4.51"));
	cr_assert_gt(rank("1.2.840.10008.1.2.4.51"), rank("1.2.840.10008.1.2.4.81"));
	cr_assert_gt(rank("1.2.840.10008.1.2.4.81"), 0);
	cr_assert_eq(rank("1.2.840.10008.1.2.4.91"), 0);
}

Test(ts, choose)
{
	const char *const mr[] = {DCM_TS_IMPLICIT_LE, DCM_TS_EXPLICIT_LE, DCM_TS_EXPLICIT_BE};
	const char *const j2k[] = {"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91", "1.2.3"};
	const char *const mixed[] = {NULL, "1.2.840.10008.1.2.4.90", DCM_TS_RLE, DCM_TS_IMPLICIT_LE,
				     "1.2.840.10008.1.2.4.50"};
	const char *const lossy[] = {"1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.50"};

	cr_assert_str_eq(dcm_ts_choose(mr, 3)->uid, DCM_TS_EXPLICIT_LE);
	cr_assert_str_eq(dcm_ts_choose(mr, 1)->uid, DCM_TS_IMPLICIT_LE);
	cr_assert_null(dcm_ts_choose(j2k, 3));
	cr_assert_null(dcm_ts_choose(mr, 0));
	cr_assert_str_eq(dcm_ts_choose(mixed, 5)->uid, DCM_TS_RLE);
	cr_assert_str_eq(dcm_ts_choose(lossy, 2)->uid, "1.2.840.10008.1.2.4.50");
}

Test(error, strings)
{
	cr_assert_str_eq(dcm_strerror(DCM_ETRUNC), "data set truncated");
	cr_assert_str_eq(dcm_strerror(-ENOMEM), strerror(ENOMEM));
	cr_assert_str_eq(dcm_strerror(DCM_EMORE), strerror(EAGAIN));
	cr_assert_str_eq(dcm_strerror(-99999), "unknown error");
	for (int e = DCM_ESTATE; e <= DCM_ETRUNC; e++)
		cr_assert_str_neq(dcm_strerror(e), "unknown error");
}
