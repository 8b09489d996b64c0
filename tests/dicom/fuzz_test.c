/*
 * A deterministic mutation fuzzer over the parser in `make check`: seeds are the
 * MR_small*.dcm data sets and a deflated one, mutated by byte flips, length-field smashes,
 * insertions and cuts (xorshift PRNG with a fixed seed, so failures reproduce). Each input
 * goes through dcm_fuzz_one() (fuzz_parser.c), which aborts on any inconsistency.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include <zlib.h>

#include "dicom/part10.h"
#include "events.h"

int dcm_fuzz_one(const uint8_t *d, size_t n);

#define DEFAULT_DIR "/usr/lib/python3/dist-packages/pydicom/data/test_files"

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint8_t *load(const char *name, size_t *len)
{
	const char *dir = getenv("DICOMAID_TEST_FILES");
	char path[4096];
	FILE *f;
	uint8_t *d;
	long n;

	snprintf(path, sizeof path, "%s/%s", dir && *dir ? dir : DEFAULT_DIR, name);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	d = malloc((size_t)n);
	cr_assert_not_null(d);
	cr_assert_eq(fread(d, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return d;
}

static void fuzz_seed(const uint8_t *ds, size_t n, uint8_t ts_sel, int rounds)
{
	uint8_t *buf = malloc(n + 64 + 2);

	cr_assert_not_null(buf);
	for (int r = 0; r < rounds; r++) {
		size_t len = n;
		int muts = 1 + (int)(next() % 4);

		buf[0] = ts_sel;
		buf[1] = (uint8_t)next();
		memcpy(buf + 2, ds, n);
		for (int k = 0; k < muts && len > 0; k++) {
			size_t at = (size_t)(next() % len);
			switch (next() % 5) {
			case 0: buf[2 + at] ^= (uint8_t)(1u << (next() % 8)); break;
			case 1: /* smash a 32-bit field with an interesting value */
				if (at + 4 <= len) {
					static const uint32_t v[] = {0, 1, 0xFFFFFFFF, 0xFFFFFFFE, 0x7FFFFFFF, 0x10000};
					uint32_t x = v[next() % 6];
					memcpy(buf + 2 + at, &x, 4);
				}
				break;
			case 2: len = at; break; /* cut */
			case 3: buf[2 + at] = (uint8_t)next(); break;
			case 4: /* insert an item or delimiter tag */
				if (at + 8 <= len) {
					static const uint8_t tags[3][4] = {{0xFE, 0xFF, 0x00, 0xE0},
									   {0xFE, 0xFF, 0x0D, 0xE0},
									   {0xFE, 0xFF, 0xDD, 0xE0}};
					memcpy(buf + 2 + at, tags[next() % 3], 4);
				}
				break;
			}
		}
		dcm_fuzz_one(buf, len + 2);
	}
	free(buf);
}

Test(fuzz, mutated_real_files, .timeout = 120)
{
	static const struct { const char *name; uint8_t ts; } seeds[] = {
		{"MR_small.dcm", 1}, {"MR_small_implicit.dcm", 0}, {"MR_small_bigendian.dcm", 2},
		{"MR_small_RLE.dcm", 4}, {"MR_small_jpeg_ls_lossless.dcm", 4},
	};
	for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
		size_t len, off;
		struct dcm_meta m;
		uint8_t *d = load(seeds[i].name, &len);
		cr_assert_eq(dcm_part10_read_header(d, len, &m, &off), 0);
		/* the data set under its own syntax, and the same bytes under every other one */
		fuzz_seed(d + off, len - off, seeds[i].ts, 300);
		for (uint8_t t = 0; t < 5; t++)
			fuzz_seed(d + off, len - off, t, 20);
		/* the whole file, to hit the Part 10 reader */
		fuzz_seed(d, len, seeds[i].ts, 100);
		free(d);
	}
}

/* Seeds with what the MR files lack: sequences of both length kinds nested, UN of undefined
 * length, fragments; in each encoding, and deflated. */
static void build_seed(struct vb *v)
{
	vb_str(v, DCM_TAG(0x0008, 0x0060), "CS", "MR");
	vb_hdr(v, DCM_TAG(0x0008, 0x1140), "SQ", DCM_UNDEFINED_LENGTH);
	vb_item(v, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
	vb_hdr(v, DCM_TAG(0x0008, 0x1199), "SQ", v->ex ? 34 : 30);
	vb_item(v, DCM_TAG_ITEM, v->ex ? 26 : 22);
	vb_str(v, DCM_TAG(0x0008, 0x1150), "UI", "1.2.3.");
	vb_hdr(v, DCM_TAG(0x0040, 0xA730), "SQ", 0);
	vb_item(v, DCM_TAG_ITEM_DELIM, 0);
	vb_item(v, DCM_TAG_ITEM, 0);
	vb_item(v, DCM_TAG_SEQ_DELIM, 0);
	if (v->ex) {
		vb_hdr(v, DCM_TAG(0x0019, 0x1001), "UN", DCM_UNDEFINED_LENGTH);
		bool be = v->be;
		v->be = false;
		vb_item(v, DCM_TAG_ITEM, DCM_UNDEFINED_LENGTH);
		vb_u16(v, 0x0040);
		vb_u16(v, 0xA040);
		vb_u32(v, 4);
		vb_raw(v, "TEXT", 4);
		vb_item(v, DCM_TAG_ITEM_DELIM, 0);
		vb_item(v, DCM_TAG_SEQ_DELIM, 0);
		v->be = be;
	}
	vb_hdr(v, DCM_TAG(0x0028, 0x0010), "US", 2);
	vb_u16(v, 64);
	vb_hdr(v, DCM_TAG_PIXEL_DATA, "OB", DCM_UNDEFINED_LENGTH);
	vb_item(v, DCM_TAG_ITEM, 4);
	vb_u32(v, 0);
	vb_item(v, DCM_TAG_ITEM, 6);
	vb_raw(v, "\xff\xd8\xff\xd9\0\0", 6);
	vb_item(v, DCM_TAG_SEQ_DELIM, 0);
}

/* With $DICOMAID_FUZZ_CORPUS set, also write the seeds there for a libFuzzer run. */
static void save_seed(uint8_t ts, const uint8_t *d, size_t n)
{
	const char *dir = getenv("DICOMAID_FUZZ_CORPUS");
	char path[4096];
	FILE *f;

	if (dir == NULL || *dir == '\0')
		return;
	snprintf(path, sizeof path, "%s/vector-ts%u", dir, ts);
	f = fopen(path, "wb");
	cr_assert_not_null(f, "%s", path);
	fputc(ts, f);
	fputc(128, f);
	fwrite(d, 1, n, f);
	fclose(f);
}

Test(fuzz, mutated_vectors, .timeout = 120)
{
	static const struct { bool ex, be; uint8_t ts; } enc[] = {
		{false, false, 0}, {true, false, 1}, {true, true, 2}, {true, false, 4},
	};
	for (size_t i = 0; i < sizeof enc / sizeof enc[0]; i++) {
		struct vb v;
		vb_init(&v, enc[i].ex, enc[i].be);
		build_seed(&v);
		{
			/* the seed itself is valid */
			static const char *const uids[] = {DCM_TS_IMPLICIT_LE, DCM_TS_EXPLICIT_LE,
							   DCM_TS_EXPLICIT_BE, DCM_TS_DEFLATED_LE, DCM_TS_RLE};
			char *ev;
			cr_assert_eq(ev_parse(dcm_ts_find(uids[enc[i].ts]), v.d, v.n, v.n, 0, &ev, 64), 0,
				     "%s", ev);
			cr_assert(strstr(ev, "X (7FE0,0010)") != NULL);
			free(ev);
		}
		save_seed(enc[i].ts, v.d, v.n);
		fuzz_seed(v.d, v.n, enc[i].ts, 3000);
		if (enc[i].ts == 1) {
			/* the same, deflated */
			uLongf zn = compressBound(v.n) + 16;
			uint8_t *z = malloc(zn);
			z_stream zs = {0};
			cr_assert_not_null(z);
			cr_assert_eq(deflateInit2(&zs, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
			zs.next_in = v.d;
			zs.avail_in = (uInt)v.n;
			zs.next_out = z;
			zs.avail_out = (uInt)zn;
			cr_assert_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
			fuzz_seed(z, zs.total_out, 3, 3000);
			save_seed(3, z, zs.total_out);
			deflateEnd(&zs);
			free(z);
		}
		vb_free(&v);
	}
}
