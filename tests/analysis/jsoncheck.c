/*
 * jsoncheck [--series N] [--min-lesions N] [--uids FILE] < JSON
 *
 * Validates dicomaid-detect's output without Python: a strict JSON parser (RFC 8259) into a
 * small tree, then the issue 4 shape, keys in the documented order:
 *   {"studies": [{"study_instance_uid": S, "series_instance_uid": S,
 *                 ("study_probability": P | "skipped": S), "lesions": [
 *                   {"type": "glioma"|"meningioma"|"pituitary"|null, "probability": P,
 *                    "centre_mm": [N, N, N], "boxes": [{"sop_instance_uid": S, "col_min": I,
 *                    "row_min": I, "col_max": I, "row_max": I}, ...]}, ...]}, ...]}
 * with P in [0, 1], I integers >= 0, min <= max, at least one box per lesion, a skipped series
 * without lesions. --series: exact number of series; --min-lesions: at least that many
 * lesions in all; --uids FILE: every box's SOP Instance UID is a line of FILE.
 * Prints "series=N skipped=K lesions=L boxes=B" and exits 0, or prints the first problem and
 * exits 1.
 */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum kind { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct node {
	enum kind kind;
	double num;
	bool is_int;
	char *str;               /* J_STR value */
	int n;                   /* children */
	struct node **kids;
	char **keys;             /* J_OBJ: key of each child */
};

static const char *p, *start;

static void die(const char *msg)
{
	printf("jsoncheck: %s at offset %ld\n", msg, (long)(p - start));
	exit(1);
}

static void bad(const char *msg)
{
	printf("jsoncheck: %s\n", msg);
	exit(1);
}

static void ws(void)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
}

static struct node *new_node(enum kind k)
{
	struct node *n = calloc(1, sizeof *n);
	if (n == NULL)
		bad("out of memory");
	n->kind = k;
	return n;
}

static void free_node(struct node *n)
{
	for (int i = 0; i < n->n; i++) {
		free_node(n->kids[i]);
		if (n->keys)
			free(n->keys[i]);
	}
	free(n->kids);
	free(n->keys);
	free(n->str);
	free(n);
}

static char *parse_string(void)
{
	size_t cap = 64, len = 0;
	char *s = malloc(cap);

	if (*p != '"')
		die("string expected");
	p++;
	for (;;) {
		unsigned char c = (unsigned char)*p++;
		if (len + 8 > cap)
			s = realloc(s, cap *= 2);
		if (c == '"')
			break;
		if (c == 0 || c < 0x20)
			die("bad character in string");
		if (c == '\\') {
			c = (unsigned char)*p++;
			switch (c) {
			case '"': case '\\': case '/': s[len++] = (char)c; break;
			case 'b': s[len++] = '\b'; break;
			case 'f': s[len++] = '\f'; break;
			case 'n': s[len++] = '\n'; break;
			case 'r': s[len++] = '\r'; break;
			case 't': s[len++] = '\t'; break;
			case 'u':
				for (int i = 0; i < 4; i++)
					if (!strchr("0123456789abcdefABCDEF", p[i]) || !p[i])
						die("bad \\u escape");
				p += 4;
				s[len++] = '?';
				break;
			default:
				die("bad escape");
			}
		} else {
			s[len++] = (char)c;
		}
	}
	s[len] = '\0';
	return s;
}

static struct node *parse_value(int depth);

static struct node *parse_value(int depth)
{
	struct node *n;

	if (depth > 64)
		die("nested too deeply");
	ws();
	if (*p == '{' || *p == '[') {
		bool obj = *p == '{';
		n = new_node(obj ? J_OBJ : J_ARR);
		p++;
		ws();
		if (*p == (obj ? '}' : ']')) {
			p++;
			return n;
		}
		for (;;) {
			char *key = NULL;
			ws();
			if (obj) {
				key = parse_string();
				ws();
				if (*p++ != ':')
					die("':' expected");
			}
			n->kids = realloc(n->kids, sizeof *n->kids * (size_t)(n->n + 1));
			n->keys = realloc(n->keys, sizeof *n->keys * (size_t)(n->n + 1));
			n->keys[n->n] = key;
			n->kids[n->n++] = parse_value(depth + 1);
			ws();
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p++ != (obj ? '}' : ']'))
				die(obj ? "',' or '}' expected" : "',' or ']' expected");
			return n;
		}
	}
	if (*p == '"') {
		n = new_node(J_STR);
		n->str = parse_string();
		return n;
	}
	if (!strncmp(p, "null", 4)) {
		p += 4;
		return new_node(J_NULL);
	}
	if (!strncmp(p, "true", 4) || !strncmp(p, "false", 5)) {
		p += *p == 't' ? 4 : 5;
		return new_node(J_BOOL);
	}
	/* number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	const char *q = p;
	bool is_int = true;
	if (*q == '-')
		q++;
	if (*q == '0')
		q++;
	else if (*q >= '1' && *q <= '9')
		while (*q >= '0' && *q <= '9')
			q++;
	else
		die("value expected");
	if (*q == '.') {
		is_int = false;
		q++;
		if (!(*q >= '0' && *q <= '9'))
			die("digit expected");
		while (*q >= '0' && *q <= '9')
			q++;
	}
	if (*q == 'e' || *q == 'E') {
		is_int = false;
		q++;
		if (*q == '+' || *q == '-')
			q++;
		if (!(*q >= '0' && *q <= '9'))
			die("digit expected");
		while (*q >= '0' && *q <= '9')
			q++;
	}
	n = new_node(J_NUM);
	n->num = strtod(p, NULL);
	n->is_int = is_int;
	p = q;
	return n;
}

static struct node *key(const struct node *o, int i, const char *want, const char *where)
{
	char msg[256];
	if (o->kind != J_OBJ) {
		snprintf(msg, sizeof msg, "%s: an object expected", where);
		bad(msg);
	}
	if (i >= o->n || strcmp(o->keys[i], want) != 0) {
		snprintf(msg, sizeof msg, "%s: key %d should be \"%s\", is \"%s\"", where, i, want,
			 i < o->n ? o->keys[i] : "(none)");
		bad(msg);
	}
	return o->kids[i];
}

static void expect(bool ok, const char *what, const char *where)
{
	if (!ok) {
		char msg[256];
		snprintf(msg, sizeof msg, "%s: %s", where, what);
		bad(msg);
	}
}

static char **uids;
static int nuids;

static void load_uids(const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];

	if (f == NULL)
		bad("cannot open the UID list");
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\r\n")] = '\0';
		uids = realloc(uids, sizeof *uids * (size_t)(nuids + 1));
		uids[nuids++] = strdup(line);
	}
	fclose(f);
}

int main(int argc, char **argv)
{
	long want_series = -1, min_lesions = 0;
	size_t cap = 1 << 16, len = 0, r;
	char *buf = malloc(cap);
	int nseries, nskipped = 0, nlesions = 0, nboxes = 0;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--series") && i + 1 < argc)
			want_series = atol(argv[++i]);
		else if (!strcmp(argv[i], "--min-lesions") && i + 1 < argc)
			min_lesions = atol(argv[++i]);
		else if (!strcmp(argv[i], "--uids") && i + 1 < argc)
			load_uids(argv[++i]);
		else {
			fprintf(stderr, "usage: jsoncheck [--series N] [--min-lesions N] [--uids FILE] "
					"< JSON\n");
			return 2;
		}
	}
	while ((r = fread(buf + len, 1, cap - len - 1, stdin)) > 0) {
		len += r;
		if (len + 1 == cap)
			buf = realloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	if (strlen(buf) != len)
		bad("NUL byte in input");
	p = start = buf;
	struct node *root = parse_value(0);
	ws();
	if (*p)
		die("trailing characters");

	expect(root->kind == J_OBJ && root->n == 1, "one key at top level", "top");
	struct node *studies = key(root, 0, "studies", "top");
	expect(studies->kind == J_ARR, "\"studies\" is an array", "top");
	nseries = studies->n;
	for (int s = 0; s < studies->n; s++) {
		struct node *st = studies->kids[s];
		char where[64];
		snprintf(where, sizeof where, "studies[%d]", s);
		expect(st->kind == J_OBJ && st->n == 4, "four keys", where);
		expect(key(st, 0, "study_instance_uid", where)->kind == J_STR, "UID string", where);
		expect(key(st, 1, "series_instance_uid", where)->kind == J_STR, "UID string", where);
		if (!strcmp(st->keys[2], "skipped")) {
			expect(st->kids[2]->kind == J_STR && st->kids[2]->str[0], "a reason", where);
			nskipped++;
		} else {
			struct node *pr = key(st, 2, "study_probability", where);
			expect(pr->kind == J_NUM && pr->num >= 0 && pr->num <= 1, "probability in 0..1",
			       where);
		}
		struct node *les = key(st, 3, "lesions", where);
		expect(les->kind == J_ARR, "lesions is an array", where);
		expect(strcmp(st->keys[2], "skipped") || les->n == 0, "skipped without lesions",
		       where);
		for (int l = 0; l < les->n; l++) {
			struct node *L = les->kids[l], *t, *c, *bx;
			snprintf(where, sizeof where, "studies[%d].lesions[%d]", s, l);
			expect(L->kind == J_OBJ && L->n == 4, "four keys", where);
			t = key(L, 0, "type", where);
			expect(t->kind == J_NULL ||
				       (t->kind == J_STR && (!strcmp(t->str, "glioma") ||
							     !strcmp(t->str, "meningioma") ||
							     !strcmp(t->str, "pituitary"))),
			       "type glioma|meningioma|pituitary|null", where);
			t = key(L, 1, "probability", where);
			expect(t->kind == J_NUM && t->num >= 0 && t->num <= 1, "probability in 0..1",
			       where);
			c = key(L, 2, "centre_mm", where);
			expect(c->kind == J_ARR && c->n == 3, "centre_mm has 3 numbers", where);
			for (int k = 0; k < 3; k++)
				expect(c->kids[k]->kind == J_NUM && isfinite(c->kids[k]->num),
				       "centre_mm has 3 numbers", where);
			bx = key(L, 3, "boxes", where);
			expect(bx->kind == J_ARR && bx->n >= 1, "at least one box", where);
			for (int b = 0; b < bx->n; b++) {
				static const char *names[] = {"col_min", "row_min", "col_max", "row_max"};
				struct node *B = bx->kids[b], *u;
				double v[4];
				snprintf(where, sizeof where, "studies[%d].lesions[%d].boxes[%d]", s, l, b);
				expect(B->kind == J_OBJ && B->n == 5, "five keys", where);
				u = key(B, 0, "sop_instance_uid", where);
				expect(u->kind == J_STR && u->str[0], "UID string", where);
				if (nuids) {
					bool found = false;
					for (int k = 0; k < nuids && !found; k++)
						found = !strcmp(uids[k], u->str);
					expect(found, "SOP Instance UID not among the input images", where);
				}
				for (int k = 0; k < 4; k++) {
					struct node *x = key(B, k + 1, names[k], where);
					expect(x->kind == J_NUM && x->is_int && x->num >= 0,
					       "an integer index >= 0", where);
					v[k] = x->num;
				}
				expect(v[0] <= v[2] && v[1] <= v[3], "min <= max", where);
				nboxes++;
			}
			nlesions++;
		}
	}
	if (want_series >= 0 && nseries != want_series)
		bad("unexpected number of series");
	if (nlesions < min_lesions)
		bad("fewer lesions than expected");
	printf("series=%d skipped=%d lesions=%d boxes=%d\n", nseries, nskipped, nlesions, nboxes);
	free_node(root); /* so that LeakSanitizer runs of the test suite stay clean */
	free(buf);
	return 0;
}
