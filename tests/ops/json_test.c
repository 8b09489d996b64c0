/* The control protocol's pure parts: JSON writer, flat reader, validator, request lines. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/json.h"
#include "ctl/proto.h"

static bool valid(const char *s)
{
	return json_validate(s, strlen(s), NULL) == 0;
}

Test(json, writer_escapes_and_places_commas)
{
	struct jbuf b;
	jb_init(&b);
	jb_obj_begin(&b);
	jb_key(&b, "a");
	jb_str(&b, "q\"b\\s\n\t\x01");
	jb_key(&b, "n");
	jb_int(&b, -42);
	jb_key(&b, "x");
	jb_null(&b);
	jb_key(&b, "r");
	jb_real(&b, 0.25);
	jb_key(&b, "inf");
	jb_real(&b, 1.0 / 0.0);
	jb_key(&b, "list");
	jb_arr_begin(&b);
	jb_int(&b, 1);
	jb_bool(&b, true);
	jb_obj_begin(&b);
	jb_obj_end(&b);
	jb_str(&b, NULL);
	jb_arr_end(&b);
	jb_key(&b, "e");
	jb_arr_begin(&b);
	jb_arr_end(&b);
	jb_obj_end(&b);
	cr_assert(!b.oom);
	cr_expect_str_eq(b.p, "{\"a\":\"q\\\"b\\\\s\\n\\t\\u0001\",\"n\":-42,\"x\":null,\"r\":0.25,\"inf\":null,"
			      "\"list\":[1,true,{},null],\"e\":[]}");
	cr_expect(valid(b.p));
	jb_free(&b);
}

Test(json, writer_replaces_invalid_utf8)
{
	struct jbuf b;
	jb_init(&b);
	/* Latin-1 "M\xfcller" is not UTF-8; "\xc3\xa9" is a valid e-acute. */
	jb_str(&b, "M\xfcller \xc3\xa9 \xe2\x82");
	cr_expect_str_eq(b.p, "\"M\\ufffdller \xc3\xa9 \\ufffd\\ufffd\"");
	cr_expect(valid(b.p));
	jb_free(&b);
}

Test(json, writer_many_members)
{
	struct jbuf b;
	jb_init(&b);
	jb_arr_begin(&b);
	for (int i = 0; i < 5000; i++) {
		jb_obj_begin(&b);
		jb_key(&b, "i");
		jb_int(&b, i);
		jb_obj_end(&b);
	}
	jb_arr_end(&b);
	cr_assert(!b.oom);
	cr_expect(valid(b.p));
	cr_expect_eq(strncmp(b.p, "[{\"i\":0},{\"i\":1},", 17), 0);
	jb_free(&b);
}

Test(json, flat_reader)
{
	const char *s = "{\"ok\":true, \"code\" : \"x\\u00e9\\n\", \"n\":-1.5e3,\"z\":null,\"f\":false}";
	size_t pos = 0;
	struct json_member m;
	cr_assert_eq(json_flat_next(s, strlen(s), &pos, &m), 1);
	cr_expect_str_eq(m.key, "ok");
	cr_expect_eq(m.type, JSON_TRUE);
	cr_assert_eq(json_flat_next(s, strlen(s), &pos, &m), 1);
	cr_expect_str_eq(m.value, "x\xc3\xa9\n");
	cr_expect_eq(m.type, JSON_STRING);
	cr_assert_eq(json_flat_next(s, strlen(s), &pos, &m), 1);
	cr_expect_str_eq(m.value, "-1.5e3");
	cr_expect_eq(m.type, JSON_NUMBER);
	cr_assert_eq(json_flat_next(s, strlen(s), &pos, &m), 1);
	cr_expect_eq(m.type, JSON_NULL);
	cr_assert_eq(json_flat_next(s, strlen(s), &pos, &m), 1);
	cr_expect_eq(m.type, JSON_FALSE);
	cr_expect_eq(json_flat_next(s, strlen(s), &pos, &m), 0);
	cr_expect_eq(json_flat_get(s, strlen(s), "f", &m), 0);
	cr_expect_eq(json_flat_get(s, strlen(s), "nope", &m), -1);
	pos = 0;
	cr_expect_eq(json_flat_next("{}", 2, &pos, &m), 0);
}

Test(json, flat_reader_rejects)
{
	static const char *bad[] = {
		"", "[]", "{\"a\":[1]}", "{\"a\":{}}", "{\"a\" 1}", "{\"a\":1,}", "{\"a\":01}",
		"{\"a\":\"\\x\"}", "{\"a\":tru}", "{a:1}", "{\"a\":\"unterminated}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		size_t pos = 0;
		struct json_member m;
		int rc;
		while ((rc = json_flat_next(bad[i], strlen(bad[i]), &pos, &m)) == 1)
			;
		cr_expect_eq(rc, -1, "accepted %s", bad[i]);
	}
	/* A value longer than the member buffer is an error, not a cut. */
	static char big[4000];
	memset(big, 'a', sizeof big - 1);
	memcpy(big, "{\"k\":\"", 6);
	memcpy(big + sizeof big - 3, "\"}", 3);
	size_t pos = 0;
	struct json_member m;
	cr_expect_eq(json_flat_next(big, strlen(big), &pos, &m), -1);
}

Test(json, validator)
{
	static const char *good[] = {
		"0", "-0.5e+10", "\"\"", "[]", "{}", " [1, {\"a\": [null, true, false]}] ",
		"\"\\ud83d\\ude00\"", "\"\xf0\x9f\x98\x80\"", "{\"a\":{\"b\":{\"c\":[]}}}",
	};
	static const char *bad[] = {
		"", "[", "[1,]", "{\"a\"}", "01", "1.", "-", "\"\x01\"", "\"\xff\"", "\"\xc0\xaf\"",
		"\"\\ud83d\"", "\"\\ude00\"", "[1] x", "{\"a\":1 \"b\":2}", "nul", "'a'",
		"\"\xed\xa0\x80\"",
	};
	for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_expect(valid(good[i]), "rejected %s", good[i]);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect(!valid(bad[i]), "accepted %s", bad[i]);
	/* Depth is bounded. */
	char deep[200];
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	char *deep_s = strndup(deep, 200);
	cr_expect(!valid(deep_s));
	free(deep_s);
	size_t at = 0;
	cr_expect_eq(json_validate("[1,x]", 5, &at), -1);
	cr_expect_eq(at, 3);
}

Test(proto, request_lines)
{
	struct ctl_request rq;
	char err[128];
	cr_assert_eq(ctl_parse_request("echo pacs", 9, &rq, err, sizeof err), 0);
	cr_expect_eq(rq.n, 2);
	cr_expect_str_eq(rq.words[0], "echo");
	cr_expect_str_eq(rq.words[1], "pacs");
	cr_assert_eq(ctl_parse_request("status\r", 7, &rq, err, sizeof err), 0);
	cr_expect_eq(rq.n, 1);
	cr_expect_str_eq(rq.words[0], "status");

	static const char *bad[] = { "", "echo  pacs", " status", "status ", "a b c d e f",
				     "st\tatus", "st\xc3\xa9" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(ctl_parse_request(bad[i], strlen(bad[i]), &rq, err, sizeof err), -1,
			     "accepted '%s'", bad[i]);
	char longw[300];
	memset(longw, 'x', sizeof longw);
	cr_expect_eq(ctl_parse_request(longw, sizeof longw, &rq, err, sizeof err), -1);
	cr_expect(strstr(err, "longer") != NULL, "%s", err);
	cr_expect_eq(ctl_parse_request(longw, 255, &rq, err, sizeof err), 0);
}
