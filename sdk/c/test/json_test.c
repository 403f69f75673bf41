/*
 * json_test: table-driven tests of wisp.h's JSON reader and writer, built
 * natively (best with -fsanitize=address,undefined, so that any read
 * outside a span is caught: every input is copied into a buffer of exactly
 * its size, with no NUL after it).
 *
 *   json_test              runs the tables; exit status 0 when all pass
 *   json_test --diff FILE  reads documents (each a 4-byte little-endian
 *                          length and the bytes) and prints for each a line
 *                          "<wisp_json_valid> <wisp_json_get rc for key a>
 *                          <hex of the value or ->", for a differential
 *                          test against another JSON implementation
 *
 * Run by e2e/sdk_c_test.go (TestSDKCJSON), or by `make test` in sdk/c.
 */
#define _POSIX_C_SOURCE 200809L /* dup, dup2, fileno: to read what wisp_log writes */
#include "wisp.h"

#include <math.h>
#include <unistd.h>
#include <wchar.h>

static int failures;

#define CHECK(cond, ...)                                                        \
	do {                                                                    \
		if (!(cond)) {                                                  \
			failures++;                                             \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);    \
			fprintf(stderr, __VA_ARGS__);                           \
			fputc('\n', stderr);                                    \
		}                                                               \
	} while (0)

/* exact copies n bytes into a buffer of exactly n bytes (1 if n is 0). */
static wisp_span exact(const char *s, size_t n) {
	char *p = malloc(n ? n : 1);
	if (!p)
		abort();
	memcpy(p, s, n);
	return (wisp_span){p, n};
}

static void drop(wisp_span s) { free((void *)s.ptr); }

static wisp_span span_of(const char *s) { return exact(s, strlen(s)); }

/* show renders bytes printably for failure messages. */
static const char *show(const char *s, size_t n) {
	static char buf[4][200];
	static int k;
	char *out = buf[k++ % 4];
	size_t o = 0, i;
	for (i = 0; i < n && o < sizeof buf[0] - 8; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f)
			out[o++] = (char)c;
		else
			o += (size_t)sprintf(out + o, "\\x%02x", c);
	}
	if (i < n)
		o += (size_t)sprintf(out + o, "...");
	out[o] = 0;
	return out;
}

/* ---- wisp_json_get ---- */

struct get_case {
	const char *doc;
	const char *key;
	int rc;
	const char *raw; /* the value's text when rc is 1 */
};

static const struct get_case get_cases[] = {
	{"{\"a\":1}", "a", 1, "1"},
	{" \t\r\n{ \"a\" :\n\"x\" } \n", "a", 1, "\"x\""},
	{"{\"a\":1}", "b", 0, NULL},
	{"{}", "a", 0, NULL},
	{" { } ", "a", 0, NULL},
	{"{\"a\":1,\"a\":2}", "a", 1, "2"},
	{"{\"\\u0061\":true}", "a", 1, "true"},
	{"{\"a\\\"b\":null}", "a\"b", 1, "null"},
	{"{\"\\u00e9\":-0.5e+3}", "\xc3\xa9", 1, "-0.5e+3"},
	{"{\"\xc3\xa9\":[]}", "\xc3\xa9", 1, "[]"},
	{"{\"\\ud83d\\ude00\":1}", "\xf0\x9f\x98\x80", 1, "1"},
	{"{\"ab\":1}", "a", 0, NULL},
	{"{\"\\u0061b\":1,\"a\":2}", "ab", 1, "1"},
	{"{\"a\\u0000\":1}", "a", 0, NULL},
	{"{\"a\":1}", "ab", 0, NULL},
	{"{\"\":5}", "", 1, "5"},
	{"{\"x\":{\"a\":1}}", "a", 0, NULL},
	{"{\"x\":[\"}{\",{\"a\":\"]\"}],\"a\":{\"b\":[1,2,{}]}}", "a", 1, "{\"b\":[1,2,{}]}"},
	{"{\"x\":\"\\\"a\\\":1\",\"y\":2}", "a", 0, NULL},
	{"{\"a\":\"\\\\\"}", "a", 1, "\"\\\\\""},
	/* not an object, or not valid */
	{"", "a", -1, NULL},
	{"   ", "a", -1, NULL},
	{"[1]", "a", -1, NULL},
	{"\"a\"", "a", -1, NULL},
	{"{", "a", -1, NULL},
	{"{\"a\"", "a", -1, NULL},
	{"{\"a\":", "a", -1, NULL},
	{"{\"a\":1", "a", -1, NULL},
	{"{\"a\":1,", "a", -1, NULL},
	{"{\"a\":}", "a", -1, NULL},
	{"{\"a\":1,}", "a", -1, NULL},
	{"{,}", "a", -1, NULL},
	{"{\"a\" 1}", "a", -1, NULL},
	{"{a:1}", "a", -1, NULL},
	{"{'a':1}", "a", -1, NULL},
	{"{\"a\":01}", "a", -1, NULL},
	{"{\"a\":1.}", "a", -1, NULL},
	{"{\"a\":.5}", "a", -1, NULL},
	{"{\"a\":-}", "a", -1, NULL},
	{"{\"a\":+1}", "a", -1, NULL},
	{"{\"a\":1e}", "a", -1, NULL},
	{"{\"a\":1e+}", "a", -1, NULL},
	{"{\"a\":0x10}", "a", -1, NULL},
	{"{\"a\":NaN}", "a", -1, NULL},
	{"{\"a\":tru}", "a", -1, NULL},
	{"{\"a\":truex}", "a", -1, NULL},
	{"{\"a\":nul}", "a", -1, NULL},
	{"{\"a\":\"\\x\"}", "a", -1, NULL},
	{"{\"a\":\"\\u12\"}", "a", -1, NULL},
	{"{\"a\":\"\\u12g4\"}", "a", -1, NULL},
	{"{\"a\":\"\\", "a", -1, NULL},
	{"{\"a\":\"\\u", "a", -1, NULL},
	{"{\"a\":\"\\u00", "a", -1, NULL},
	{"{\"a\":\"tab\there\"}", "a", -1, NULL},
	{"{\"a\":\"new\nline\"}", "a", -1, NULL},
	{"{\"a\":1}x", "a", -1, NULL},
	{"{\"a\":1}}", "a", -1, NULL},
	{"{\"a\":1} {}", "a", -1, NULL},
	{"{\"a\":[1}]}", "a", -1, NULL},
	{"{\"a\":{\"b\":1]}}", "a", -1, NULL},
	{"{\"a\":[1,]}", "a", -1, NULL},
	{"{\"a\":[,1]}", "a", -1, NULL},
	{"{\"a\":{\"b\"}}", "a", -1, NULL},
	{"{\"a\":{1:2}}", "a", -1, NULL},
	/* an error after the member still makes the object invalid */
	{"{\"a\":1,\"b\":[}", "a", -1, NULL},
};

static void test_get(void) {
	size_t i;
	for (i = 0; i < sizeof get_cases / sizeof get_cases[0]; i++) {
		const struct get_case *tc = &get_cases[i];
		size_t n = strlen(tc->doc);
		wisp_span doc = exact(tc->doc, n), v = {NULL, 0};
		int rc = wisp_json_get(doc, tc->key, &v);
		CHECK(rc == tc->rc, "get(%s, %s) = %d, want %d", show(tc->doc, n), tc->key, rc, tc->rc);
		if (rc == 1 && tc->rc == 1)
			CHECK(v.len == strlen(tc->raw) && memcmp(v.ptr, tc->raw, v.len) == 0, "get(%s, %s) = %s, want %s",
			    show(tc->doc, n), tc->key, show(v.ptr, v.len), tc->raw);
		CHECK(wisp_json_valid(doc) == (tc->rc != -1 || tc->doc[0] == '[' || tc->doc[0] == '"'),
		    "valid(%s) = %d", show(tc->doc, n), wisp_json_valid(doc));
		drop(doc);
	}
	{
		/* NUL bytes are not white space */
		wisp_span nul = exact("{\"a\":1}\0", 8), mid = exact("{\"a\":\0 1}", 8);
		CHECK(wisp_json_get(nul, "a", NULL) == -1 && wisp_json_get(mid, "a", NULL) == -1, "NUL bytes accepted");
		drop(nul);
		drop(mid);
	}
	{
		wisp_span none = {NULL, 0};
		CHECK(wisp_json_get(none, "a", NULL) == -1, "get of a NULL span");
		CHECK(!wisp_json_valid(none), "valid of a NULL span");
	}
}

/* ---- nesting ---- */

static char *repeat(char *p, int c, size_t n) {
	memset(p, c, n);
	return p + n;
}

static void test_depth(void) {
	size_t depths[] = {1, 100, 5000, WISP_JSON_MAX_DEPTH - 1, WISP_JSON_MAX_DEPTH, WISP_JSON_MAX_DEPTH + 1, 200000};
	size_t i;
	for (i = 0; i < sizeof depths / sizeof depths[0]; i++) {
		size_t d = depths[i];
		/* {"a": [[[0]]], "b": 1}: the object is one level, the arrays d-1 */
		char *buf = malloc(2 * d + 64), *p = buf;
		wisp_span doc, v;
		int rc, want = d <= WISP_JSON_MAX_DEPTH;
		p += sprintf(p, "{\"a\":");
		p = repeat(p, '[', d - 1);
		*p++ = '0';
		p = repeat(p, ']', d - 1);
		p += sprintf(p, ",\"b\":1}");
		doc = exact(buf, (size_t)(p - buf));
		rc = wisp_json_get(doc, "b", &v);
		CHECK(rc == (want ? 1 : -1), "depth %zu: get b = %d", d, rc);
		drop(doc);
		/* unbalanced: only openings */
		p = repeat(buf, '[', d);
		doc = exact(buf, (size_t)(p - buf));
		CHECK(!wisp_json_valid(doc), "depth %zu: unclosed arrays are valid", d);
		drop(doc);
		/* objects nested as values */
		p = buf;
		{
			size_t k;
			size_t od = d < 20000 ? d : 20000;
			char *big = malloc(8 * od + 16), *q = big;
			for (k = 0; k < od; k++)
				q += sprintf(q, "{\"a\":");
			*q++ = '1';
			q = repeat(q, '}', od);
			doc = exact(big, (size_t)(q - big));
			CHECK(wisp_json_valid(doc) == (od <= WISP_JSON_MAX_DEPTH), "depth %zu: nested objects valid = %d",
			    od, wisp_json_valid(doc));
			drop(doc);
			free(big);
		}
		free(buf);
	}
}

/* ---- wisp_json_string ---- */

struct string_case {
	const char *in;
	int rc;
	const char *out;
	size_t out_len;
};

static const struct string_case string_cases[] = {
	{"\"abc\"", 0, "abc", 3},
	{"  \"abc\"\n", 0, "abc", 3},
	{"\"\"", 0, "", 0},
	{"\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"", 0, "a\"b\\c/d\b\f\n\r\t", 12},
	{"\"\\u00e9\\u00E9\"", 0, "\xc3\xa9\xc3\xa9", 4},
	{"\"\\u20ac\"", 0, "\xe2\x82\xac", 3},
	{"\"\\ud83d\\ude00\"", 0, "\xf0\x9f\x98\x80", 4},
	{"\"\\uD83D\\uDE00\"", 0, "\xf0\x9f\x98\x80", 4},
	{"\"\\ud800x\"", 0, "\xef\xbf\xbdx", 4},
	{"\"\\ud800\"", 0, "\xef\xbf\xbd", 3},
	{"\"\\udc00\"", 0, "\xef\xbf\xbd", 3},
	{"\"\\ud800\\u0041\"", 0, "\xef\xbf\xbd" "A", 4},
	{"\"\\ud800\\ud800\\udc00\"", 0, "\xef\xbf\xbd\xf0\x90\x80\x80", 7},
	{"\"\\u0000x\"", 0, "\0x", 2},
	{"\"\xff\xfe\"", 0, "\xff\xfe", 2}, /* bytes pass through */
	{"\"\xc3\xa9\"", 0, "\xc3\xa9", 2},
	{"\"abc", -1, NULL, 0},
	{"\"\\\"", -1, NULL, 0},
	{"abc", -1, NULL, 0},
	{"\"a\"b\"", -1, NULL, 0},
	{"\"\\u\"", -1, NULL, 0},
	{"\"\\ud83d\\u\"", -1, NULL, 0},
	{"\"\\a\"", -1, NULL, 0},
	{"\"a\x01\"", -1, NULL, 0},
	{"1", -1, NULL, 0},
	{"", -1, NULL, 0},
	{"\"", -1, NULL, 0},
};

static void test_string(void) {
	size_t i;
	for (i = 0; i < sizeof string_cases / sizeof string_cases[0]; i++) {
		const struct string_case *tc = &string_cases[i];
		wisp_span in = span_of(tc->in);
		size_t cap = in.len ? in.len : 1, n = 12345;
		char *dst = malloc(cap);
		int rc = wisp_json_string(in, dst, cap, &n);
		CHECK(rc == tc->rc, "string(%s) = %d, want %d", show(tc->in, in.len), rc, tc->rc);
		if (rc == 0 && tc->rc == 0) {
			CHECK(n == tc->out_len && memcmp(dst, tc->out, n) == 0 && dst[n] == 0, "string(%s) = %s, want %s",
			    show(tc->in, in.len), show(dst, n), show(tc->out, tc->out_len));
			/* one byte too few for the NUL */
			if (n + 1 < cap || n == 0) {
				char *small = malloc(n + 1);
				CHECK(wisp_json_string(in, small, n, NULL) == -2, "string(%s) with cap %zu did not say -2",
				    show(tc->in, in.len), n);
				free(small);
			}
		}
		free(dst);
		drop(in);
	}
	{
		wisp_span in = span_of("\"abc\"");
		CHECK(wisp_json_string(in, NULL, 0, NULL) == -2, "string into no buffer");
		drop(in);
	}
}

/* ---- numbers, booleans, types ---- */

static void test_scalars(void) {
	static const struct {
		const char *in;
		int rc;
		double want;
	} nums[] = {
	    {"0", 0, 0}, {"-0", 0, 0}, {"12", 0, 12}, {"-1.5e3", 0, -1500}, {" 2.5E-1 ", 0, 0.25},
	    {"1e2", 0, 100}, {"123456789012345678901234567890", 0, 1.2345678901234568e29},
	    {"01", -1, 0}, {"+1", -1, 0}, {".5", -1, 0}, {"1.", -1, 0}, {"-", -1, 0}, {"1e", -1, 0},
	    {"\"1\"", -1, 0}, {"", -1, 0}, {"1 2", -1, 0}, {"Infinity", -1, 0}, {"true", -1, 0},
	};
	static const struct {
		const char *in;
		int rc, want;
	} bools[] = {
	    {"true", 0, 1}, {"false", 0, 0}, {" true\n", 0, 1}, {"True", -1, 0}, {"null", -1, 0},
	    {"1", -1, 0}, {"\"true\"", -1, 0}, {"tru", -1, 0}, {"truee", -1, 0}, {"", -1, 0},
	};
	static const struct {
		const char *in;
		wisp_json_type want;
	} types[] = {
	    {"null", WISP_JSON_NULL}, {"true", WISP_JSON_BOOL}, {"false", WISP_JSON_BOOL},
	    {"-1", WISP_JSON_NUMBER}, {"\"s\"", WISP_JSON_STRING}, {" [1, {}] ", WISP_JSON_ARRAY},
	    {"{\"a\":[]}", WISP_JSON_OBJECT}, {"[", WISP_JSON_INVALID}, {"", WISP_JSON_INVALID},
	    {"nul", WISP_JSON_INVALID}, {"1 1", WISP_JSON_INVALID},
	};
	size_t i;
	for (i = 0; i < sizeof nums / sizeof nums[0]; i++) {
		wisp_span in = span_of(nums[i].in);
		double d = -42;
		int rc = wisp_json_number(in, &d);
		CHECK(rc == nums[i].rc, "number(%s) = %d, want %d", nums[i].in, rc, nums[i].rc);
		if (rc == 0)
			CHECK(d == nums[i].want, "number(%s) = %.17g, want %.17g", nums[i].in, d, nums[i].want);
		drop(in);
	}
	{
		/* a huge number: longer than the stack buffer, beyond a double */
		size_t n = 5000;
		char *s = malloc(n);
		wisp_span in;
		double d = 0;
		memset(s, '9', n);
		in = exact(s, n);
		CHECK(wisp_json_number(in, &d) == 0 && isinf(d), "number(9 x %zu) = %g, want inf", n, d);
		drop(in);
		free(s);
	}
	for (i = 0; i < sizeof bools / sizeof bools[0]; i++) {
		wisp_span in = span_of(bools[i].in);
		int b = -42;
		int rc = wisp_json_bool(in, &b);
		CHECK(rc == bools[i].rc && (rc != 0 || b == bools[i].want), "bool(%s) = %d, %d", bools[i].in, rc, b);
		drop(in);
	}
	for (i = 0; i < sizeof types / sizeof types[0]; i++) {
		wisp_span in = span_of(types[i].in);
		CHECK(wisp_json_typeof(in) == types[i].want, "typeof(%s) = %d, want %d", types[i].in,
		    wisp_json_typeof(in), types[i].want);
		drop(in);
	}
}

/* ---- escaping and wisp_result_printf ---- */

static void test_escape(void) {
	static const struct {
		const char *in, *want;
	} cases[] = {
	    {"plain", "plain"},
	    {"", ""},
	    {"a\"b\\c", "a\\\"b\\\\c"},
	    {"\n\r\t\b\f", "\\n\\r\\t\\b\\f"},
	    {"\x01\x1f\x7f", "\\u0001\\u001f\x7f"},
	    {"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
	    {"\xff", "\\ufffd"},
	    {"a\xe2\x82", "a\\ufffd\\ufffd"},   /* truncated */
	    {"\xc0\xaf", "\\ufffd\\ufffd"},     /* overlong */
	    {"\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd"}, /* a UTF-16 surrogate */
	    {"\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"}, /* above U+10FFFF */
	    {"\x80x", "\\ufffdx"},
	    {"</script>", "</script>"},
	};
	size_t i;
	wisp_call call;
	wisp__call_begin(&call, "{}", 2, "{}", 2);
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const char *got = wisp_json_escape(&call, cases[i].in);
		CHECK(strcmp(got, cases[i].want) == 0, "escape(%s) = %s, want %s", show(cases[i].in, strlen(cases[i].in)),
		    show(got, strlen(got)), show(cases[i].want, strlen(cases[i].want)));
	}
	CHECK(strcmp(wisp_json_escape(&call, NULL), "") == 0, "escape(NULL)");
	free(wisp__call_end(&call));
}

static void test_printf(void) {
	wisp_call call;
	char *r;
	wisp__call_begin(&call, "{}", 2, "{}", 2);

#define RESULT_IS(want)                                                                                   \
	CHECK(call.result_ && strcmp(call.result_, want) == 0 && call.result_len_ == strlen(want), "result %s, want %s", \
	    call.result_ ? call.result_ : "(none)", want)

	CHECK(wisp_result_printf(&call, "{\"a\":\"%J\"}", "x\"y\n\xff") == 0, "printf %%J");
	RESULT_IS("{\"a\":\"x\\\"y\\n\\ufffd\"}");
	CHECK(wisp_result_printf(&call, "{\"a\":\"%.3J\",\"b\":\"%.*J\",\"c\":\"%J\"}", "abcdef", 2, "a\"", (char *)NULL) == 0,
	    "printf %%.3J");
	RESULT_IS("{\"a\":\"abc\",\"b\":\"a\\\"\",\"c\":\"\"}");
	CHECK(wisp_result_printf(&call, "{\"a\":\"%.10J\"}", "ab") == 0, "precision past the NUL");
	RESULT_IS("{\"a\":\"ab\"}");
	CHECK(wisp_result_printf(&call, "{\"n\":%d,\"f\":%5.2f,\"s\":\"%s\",\"c\":\"%c\",\"x\":\"%x\",\"p\":\"100%%\"}", -7,
	          3.14159, "str", 'q', 255u) == 0,
	    "printf standard");
	RESULT_IS("{\"n\":-7,\"f\": 3.14,\"s\":\"str\",\"c\":\"q\",\"x\":\"ff\",\"p\":\"100%\"}");
	CHECK(wisp_result_printf(&call, "[%zu|%lld|%llu|%ld|%hhd|%jd|%*d|%-4s|%.2s|%+d|%05d|%e|%Lg|%#o|%s]", (size_t)42,
	          -5000000000LL, 18446744073709551615ULL, -3L, 300, (intmax_t)9, 4, 7, "ab", "xyz", 1, 42, 1.5,
	          (long double)2.5, 8u, (char *)NULL) == 0,
	    "printf lengths");
	RESULT_IS("[42|-5000000000|18446744073709551615|-3|44|9|   7|ab  |xy|+1|00042|1.500000e+00|2.5|010|(null)]");
	{
		/* The conversions wisp__vformat writes itself, against snprintf. */
		static const long long ints[] = {0, 1, -1, 9, 10, -10, 2147483647, -2147483647 - 1, 4294967295LL,
		                                 9223372036854775807LL, -9223372036854775807LL - 1};
		char want[256];
		size_t k;
		for (k = 0; k < sizeof ints / sizeof ints[0]; k++) {
			long long v = ints[k];
			snprintf(want, sizeof want, "%d %i %u %ld %li %lu %lld %lli %llu %s|", (int)v, (int)v, (unsigned)v, (long)v,
			         (long)v, (unsigned long)v, v, v, (unsigned long long)v, k % 2 ? "s" : "");
			CHECK(wisp_result_printf(&call, "%d %i %u %ld %li %lu %lld %lli %llu %s|", (int)v, (int)v, (unsigned)v,
			          (long)v, (long)v, (unsigned long)v, v, v, (unsigned long long)v, k % 2 ? "s" : "") == 0,
			    "printf plain conversions of %lld", v);
			CHECK(strcmp(call.result_, want) == 0, "printf plain conversions: %s, snprintf %s", call.result_, want);
		}
	}
	CHECK(wisp_result_printf(&call, "%s%J%s", "{\"big\":\"", "\xe2\x82\xac", "\"}") == 0, "printf %%s%%J");
	RESULT_IS("{\"big\":\"\xe2\x82\xac\"}");

	/* unsupported conversions: an application error, not a crash */
	{
		int n = 0;
		static const char *bad[] = {"{%n}", "{%q}", "{%", "{%l", "{%ls}", "{%lc}", "{%hJ}", "{%Ld}", "{%hf}"};
		size_t i;
		for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
			CHECK(wisp_result_printf(&call, bad[i], &n) == -1, "printf(%s) did not fail", bad[i]);
			CHECK(call.result_ && strncmp(call.result_, "{\"error\":\"wisp_result_printf:", 29) == 0,
			    "printf(%s) result %s", bad[i], call.result_ ? call.result_ : "(none)");
		}
		CHECK(n == 0, "%%n wrote");
	}

	CHECK(wisp_error(&call, "bad \"%s\" %d", "x\n", 3) == 0, "wisp_error");
	RESULT_IS("{\"error\":\"bad \\\"x\\n\\\" 3\"}");
	CHECK(wisp_result(&call, "{\"raw\":[1]}", 11) == 0, "wisp_result");
	RESULT_IS("{\"raw\":[1]}");
	r = wisp__call_end(&call);
	free(r);
#undef RESULT_IS
}

/* ---- the call: parameters and context ---- */

static int handler_none(wisp_call *call) { (void)call; return 0; }
static int handler_fail(wisp_call *call) { (void)call; return 3; }

static void test_call(void) {
	static const char params[] =
	    "{\"name\":\"A \\\"q\\\" \\u00e9\",\"n\":-2.5,\"ok\":true,\"no\":false,\"nul\":null,"
	    "\"obj\":{\"inner\":\"v\"},\"s\":\"\\u0000tail\",\"num_str\":\"3\",\"name\":\"last\"}";
	static const char ctx[] = "{\"activationId\":\"abc123\",\"namespace\":\"ns\",\"actionName\":\"/ns/hello\","
	                          "\"actionVersion\":\"0.0.1\",\"deadline\":\"1700000000123\",\"apiHost\":\"http://h\"}";
	wisp_span p = exact(params, sizeof params - 1), c = exact(ctx, sizeof ctx - 1), raw, inner;
	wisp_call call;
	char buf[16];

	wisp__call_begin(&call, p.ptr, p.len, c.ptr, c.len);
	CHECK(strcmp(wisp_param_string(&call, "name", "d"), "last") == 0, "duplicate name: %s", wisp_param_string(&call, "name", "d"));
	CHECK(strcmp(wisp_param_string(&call, "missing", "d"), "d") == 0, "missing string");
	CHECK(wisp_param_string(&call, "missing", NULL) == NULL, "missing string, NULL default");
	CHECK(strcmp(wisp_param_string(&call, "n", "d"), "d") == 0, "number as string");
	CHECK(strcmp(wisp_param_string(&call, "nul", "d"), "d") == 0, "null as string");
	CHECK(strcmp(wisp_param_string(&call, "s", "d"), "") == 0, "string with NUL");
	CHECK(wisp_param_number(&call, "n", 0) == -2.5, "number");
	CHECK(wisp_param_number(&call, "num_str", 7) == 7, "string as number");
	CHECK(wisp_param_number(&call, "ok", 7) == 7, "bool as number");
	CHECK(wisp_param_bool(&call, "ok", 0) == 1 && wisp_param_bool(&call, "no", 1) == 0, "bools");
	CHECK(wisp_param_bool(&call, "nul", -1) == -1 && wisp_param_bool(&call, "missing", -1) == -1, "bool defaults");
	raw = wisp_param_raw(&call, "obj");
	CHECK(raw.ptr && wisp_json_typeof(raw) == WISP_JSON_OBJECT, "raw object");
	CHECK(wisp_json_get(raw, "inner", &inner) == 1 && wisp_json_string(inner, buf, sizeof buf, NULL) == 0 &&
	          strcmp(buf, "v") == 0,
	    "nested get");
	CHECK(wisp_param_raw(&call, "missing").ptr == NULL, "raw missing");
	raw = wisp_param_raw(&call, "s");
	{
		size_t n = 0;
		CHECK(wisp_json_string(raw, buf, sizeof buf, &n) == 0 && n == 5 && memcmp(buf, "\0tail", 5) == 0, "string with NUL, whole");
	}
	CHECK(strcmp(wisp_activation_id(&call), "abc123") == 0, "activation id %s", wisp_activation_id(&call));
	CHECK(strcmp(wisp_namespace(&call), "ns") == 0, "namespace");
	CHECK(strcmp(wisp_action_name(&call), "/ns/hello") == 0, "action name");
	CHECK(strcmp(wisp_action_version(&call), "0.0.1") == 0, "action version");
	CHECK(strcmp(wisp_api_host(&call), "http://h") == 0, "api host");
	CHECK(wisp_deadline(&call) == 1700000000123LL, "deadline %lld", (long long)wisp_deadline(&call));
	wisp__call_run(&call, handler_none);
	CHECK(call.result_ && strcmp(call.result_, "{}") == 0, "no result: %s", call.result_);
	free(wisp__call_end(&call));
	drop(p);
	drop(c);

	/* hostile parameters and context: every getter answers its default */
	{
		static const char *hostile[] = {"", "{", "[\"name\",\"x\"]", "{\"name\":\"x\"", "{\"name\":\"x\\", "{\"name\":\"x\"}}",
		                                "null", "{\"name\":\"\\ud800\"", "\"name\""};
		size_t i;
		for (i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
			wisp_span h = span_of(hostile[i]);
			wisp__call_begin(&call, h.ptr, h.len, h.ptr, h.len);
			CHECK(strcmp(wisp_param_string(&call, "name", "d"), "d") == 0, "hostile %s: name", hostile[i]);
			CHECK(wisp_param_number(&call, "name", 1) == 1 && wisp_param_bool(&call, "name", 1) == 1, "hostile %s", hostile[i]);
			CHECK(!wisp_param_raw(&call, "name").ptr, "hostile %s: raw", hostile[i]);
			CHECK(strcmp(wisp_activation_id(&call), "") == 0 && wisp_deadline(&call) == 0, "hostile %s: context", hostile[i]);
			wisp__call_run(&call, handler_fail);
			CHECK(call.result_ && strstr(call.result_, "{\"error\":") == call.result_, "handler failing: %s", call.result_);
			free(wisp__call_end(&call));
			drop(h);
		}
	}
	/* a numeric deadline, and bad ones */
	{
		static const struct {
			const char *ctx;
			long long want;
		} dl[] = {
		    {"{\"deadline\":1700000000123}", 1700000000123LL}, {"{\"deadline\":\"12x\"}", 0},
		    {"{\"deadline\":\"-5\"}", 0}, {"{\"deadline\":true}", 0}, {"{\"deadline\":1e300}", 0},
		};
		size_t i;
		for (i = 0; i < sizeof dl / sizeof dl[0]; i++) {
			wisp_span h = span_of(dl[i].ctx);
			wisp__call_begin(&call, "{}", 2, h.ptr, h.len);
			CHECK(wisp_deadline(&call) == dl[i].want, "deadline of %s = %lld", dl[i].ctx, (long long)wisp_deadline(&call));
			free(wisp__call_end(&call));
			drop(h);
		}
	}
}

/* ---- every truncation and many mutations of valid documents ---- */

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next_rand(void) {
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void test_mutations(void) {
	static const char *docs[] = {
	    "{\"name\":\"A \\\"q\\\" \\u00e9 \\ud83d\\ude00\",\"n\":-1.5e3,\"a\":[true,false,null,{\"b\":[]}],\"s\":\"\"}",
	    "{\"a\":{\"a\":{\"a\":[1,2,[3,[4,{\"a\":\"}\"}]]]}},\"z\":0}",
	    "  {  \"a\"  :  \"\\\\\\/\\b\\f\\n\\r\\t\"  }  ",
	};
	static const char alphabet[] = "{}[]\":,\\u0123456789abcdefABCDEF.-+eE tnrl\x00\x01\x7f\x80\xff";
	size_t d, i, k;
	char *buf;
	for (d = 0; d < sizeof docs / sizeof docs[0]; d++) {
		size_t n = strlen(docs[d]);
		wisp_span full = exact(docs[d], n);
		CHECK(wisp_json_valid(full), "doc %zu is not valid", d);
		drop(full);
		/* every proper prefix of an object is invalid */
		for (i = 0; i < n; i++) {
			wisp_span pre = exact(docs[d], i);
			wisp_span v;
			size_t j, trail = 1;
			for (j = i; j < n; j++)
				trail = trail && (docs[d][j] == ' ');
			if (!trail)
				CHECK(wisp_json_get(pre, "a", &v) == -1, "prefix %zu of doc %zu is a valid object", i, d);
			(void)wisp_json_typeof(pre);
			drop(pre);
		}
		/* random mutations: no crash (the sanitizers watch), and a found value lies inside */
		buf = malloc(n + 8);
		for (k = 0; k < 20000; k++) {
			size_t m = n, edits = 1 + next_rand() % 3, e;
			wisp_span doc, v;
			memcpy(buf, docs[d], n);
			for (e = 0; e < edits; e++) {
				size_t at = next_rand() % (m + 1);
				char c = alphabet[next_rand() % (sizeof alphabet - 1)];
				switch (next_rand() % 3) {
				case 0: if (at < m) buf[at] = c; break;
				case 1: if (at < m) { memmove(buf + at, buf + at + 1, m - at - 1); m--; } break;
				default: if (m < n + 8) { memmove(buf + at + 1, buf + at, m - at); buf[at] = c; m++; }
				}
			}
			doc = exact(buf, m);
			if (wisp_json_get(doc, "a", &v) == 1) {
				char *tmp = malloc(v.len ? v.len : 1);
				CHECK(v.ptr >= doc.ptr && v.ptr + v.len <= doc.ptr + doc.len, "value outside the document");
				CHECK(wisp_json_valid(v), "found value %s is not valid", show(v.ptr, v.len));
				(void)wisp_json_string(v, tmp, v.len ? v.len : 1, NULL);
				free(tmp);
			}
			(void)wisp_json_valid(doc);
			drop(doc);
		}
		free(buf);
	}
}

/* ---- differential mode ---- */

static int diff(const char *path) {
	FILE *f = fopen(path, "rb");
	unsigned char hdr[4];
	if (!f) {
		perror(path);
		return 2;
	}
	while (fread(hdr, 1, 4, f) == 4) {
		size_t n = (size_t)hdr[0] | (size_t)hdr[1] << 8 | (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24, i;
		char *p = malloc(n ? n : 1);
		wisp_span doc, v = {NULL, 0};
		int rc;
		if (!p || fread(p, 1, n, f) != n) {
			fprintf(stderr, "short read\n");
			return 2;
		}
		doc = exact(p, n);
		free(p);
		rc = wisp_json_get(doc, "a", &v);
		printf("%d %d ", wisp_json_valid(doc), rc);
		if (rc == 1)
			for (i = 0; i < v.len; i++)
				printf("%02x", (unsigned char)v.ptr[i]);
		else
			putchar('-');
		putchar('\n');
		drop(doc);
	}
	fclose(f);
	return 0;
}

/* ---- wisp_log ---- */

/* logged returns what wisp_log wrote to stderr while f ran. */
static const char *logged(void (*f)(void)) {
	static char out[512];
	FILE *tmp = tmpfile();
	int saved = dup(2);
	size_t n;
	fflush(stderr);
	dup2(fileno(tmp), 2);
	f();
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	rewind(tmp);
	n = fread(out, 1, sizeof out - 1, tmp);
	out[n] = 0;
	fclose(tmp);
	return out;
}

static void log_plain(void) { wisp_log("greeting %s, %d %ld %lld %u|", "w\"x", -3, 40L, -5000000000LL, 7u); }
static void log_formatted(void) { wisp_log("%5.1f|%-3d|%x|%c|%%", 2.25, 7, 255u, 'q'); }
static void log_unsupported(void) { wisp_log("%lc|%d", (wint_t)'z', 5); }

static void test_log(void) {
	const char *got = logged(log_plain);
	CHECK(strcmp(got, "greeting w\"x, -3 40 -5000000000 7|\n") == 0, "wisp_log plain: %s", got);
	got = logged(log_formatted);
	CHECK(strcmp(got, "  2.2|7  |ff|q|%\n") == 0, "wisp_log formatted: %s", got);
	/* %lc is not wisp__vformat's: the line goes to vsnprintf whole. */
	got = logged(log_unsupported);
	CHECK(strcmp(got, "z|5\n") == 0, "wisp_log with %%lc: %s", got);
}

int main(int argc, char **argv) {
	if (argc == 3 && strcmp(argv[1], "--diff") == 0)
		return diff(argv[2]);
	test_get();
	test_depth();
	test_string();
	test_scalars();
	test_escape();
	test_printf();
	test_call();
	test_mutations();
	test_log();
	if (failures) {
		fprintf(stderr, "json_test: %d failures\n", failures);
		return 1;
	}
	printf("json_test: ok\n");
	return 0;
}
