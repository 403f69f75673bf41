/*
 * wisp.h: the C SDK for Wisp actions (docs/wasm-abi.md). Header-only.
 *
 * An action is one handler function and the WISP_ACTION macro:
 *
 *     #include "wisp.h"
 *     static int hello(wisp_call *call) {
 *         const char *name = wisp_param_string(call, "name", "world");
 *         wisp_log("greeting %s", name);
 *         return wisp_result_printf(call, "{\"greeting\":\"Hello, %J!\"}", name);
 *     }
 *     WISP_ACTION(hello)
 *
 * Built without WISP_REACTOR, WISP_ACTION defines main() and the module is
 * a WASI command: the parameters come on stdin, the result goes to stdout
 * (do not write anything else there; log with wisp_log, which writes to
 * stderr), the context comes from the __OW_* environment variables, and
 * every activation starts from a fresh instance.
 *
 * Built with -DWISP_REACTOR -mexec-model=reactor, WISP_ACTION defines and
 * exports wisp_alloc and wisp_invoke instead: the module is a Wisp reactor,
 * whose instance serves many activations of one action, one at a time, so
 * that static variables survive from one activation to the next.
 *
 *     clang --target=wasm32-wasi --sysroot=/usr -O2 -I sdk/c -o hello.wasm hello.c
 *     clang --target=wasm32-wasi --sysroot=/usr -O2 -I sdk/c -DWISP_REACTOR \
 *           -mexec-model=reactor -o hello.wasm hello.c
 *
 * Everything the SDK returns to the handler (parameter strings, escaped
 * strings, context strings) lives until the handler returns; copy what
 * must outlive the activation. All functions are for one thread: Wisp
 * runs one activation at a time in an instance.
 *
 * Out of memory: the SDK writes "wisp: out of memory" to stderr and
 * aborts, which Wisp reports as the action exceeding its memory limit.
 *
 * Names that start with wisp__ are internal. The header needs C99; it
 * defines everything static, so include it in the one file that uses it
 * (or in several: each gets its own copy).
 */
#ifndef WISP_H
#define WISP_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(WISP_REACTOR) && !defined(__wasm__)
#error "WISP_REACTOR builds a WebAssembly reactor: compile with --target=wasm32-wasi -mexec-model=reactor"
#endif

/* WISP_JSON_MAX_DEPTH bounds the nesting of arrays and objects the JSON
 * reader accepts; deeper documents are invalid to it. It costs
 * WISP_JSON_MAX_DEPTH/8 bytes of stack. Go's encoding/json, which checks
 * the parameters before Wisp passes them, stops at 10000. */
#ifndef WISP_JSON_MAX_DEPTH
#define WISP_JSON_MAX_DEPTH 10240
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WISP__FN static __attribute__((unused))
#define WISP__PRINTF(f, a) __attribute__((format(printf, f, a)))
#define WISP__NORETURN __attribute__((noreturn))
#else
#define WISP__FN static
#define WISP__PRINTF(f, a)
#define WISP__NORETURN
#endif

/* ------------------------------------------------------------------ */
/* Types                                                                */
/* ------------------------------------------------------------------ */

/* wisp_span is a piece of JSON text: len bytes at ptr, not NUL-terminated.
 * A span of ptr NULL is "nothing". */
typedef struct wisp_span {
	const char *ptr;
	size_t len;
} wisp_span;

/* wisp_json_type is the kind of a JSON value (wisp_json_typeof). */
typedef enum wisp_json_type {
	WISP_JSON_INVALID = 0,
	WISP_JSON_NULL,
	WISP_JSON_BOOL,
	WISP_JSON_NUMBER,
	WISP_JSON_STRING,
	WISP_JSON_ARRAY,
	WISP_JSON_OBJECT
} wisp_json_type;

/* wisp__block is one allocation of a call's arena. */
typedef union wisp__block {
	union wisp__block *next;
	long double align_ld; /* the data after the header is aligned for anything */
	long long align_ll;
	void *align_p;
} wisp__block;

/* wisp_call is one activation, as the handler sees it. Its fields are
 * private: use the functions below. */
typedef struct wisp_call {
	wisp_span params_;
	const char *activation_id_, *namespace_, *action_name_, *action_version_, *api_host_;
	int64_t deadline_;
	char *result_; /* malloc'ed, NUL-terminated; NULL until set */
	size_t result_len_;
	wisp__block *arena_;
} wisp_call;

/* wisp_handler is an action's entry point. It sets the result with one of
 * wisp_result, wisp_result_printf or wisp_error, and returns what that
 * returned. Without a result, a handler returning 0 answers {}, and one
 * returning anything else an application error. */
typedef int (*wisp_handler)(wisp_call *call);

/* ------------------------------------------------------------------ */
/* Memory                                                               */
/* ------------------------------------------------------------------ */

WISP__FN WISP__NORETURN void wisp__oom(void) {
	static const char msg[] = "wisp: out of memory\n";
	fwrite(msg, 1, sizeof msg - 1, stderr);
	abort();
}

/* wisp__arena returns n bytes that live until the call ends. */
WISP__FN void *wisp__arena(wisp_call *call, size_t n) {
	wisp__block *b;
	if (n > SIZE_MAX - sizeof(wisp__block))
		wisp__oom();
	b = (wisp__block *)malloc(sizeof(wisp__block) + n);
	if (!b)
		wisp__oom();
	b->next = call->arena_;
	call->arena_ = b;
	return b + 1;
}

/* wisp__buf is a growing byte buffer, always NUL-terminated once used. */
typedef struct wisp__buf {
	char *p;
	size_t len, cap;
} wisp__buf;

WISP__FN void wisp__buf_reserve(wisp__buf *b, size_t extra) {
	size_t need, cap;
	char *p;
	if (extra > SIZE_MAX - 1 - b->len)
		wisp__oom();
	need = b->len + extra + 1;
	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 64;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = (char *)realloc(b->p, cap);
	if (!p)
		wisp__oom();
	b->p = p;
	b->cap = cap;
}

WISP__FN void wisp__buf_put(wisp__buf *b, const char *s, size_t n) {
	wisp__buf_reserve(b, n);
	if (n)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

/* wisp__buf_decimal appends v in decimal, after a minus sign if neg: what
 * printf's %llu writes for v, or %lld for -v. */
WISP__FN void wisp__buf_decimal(wisp__buf *b, unsigned long long v, int neg) {
	char d[21], *p = d + sizeof d;
	do {
		*--p = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	if (neg)
		*--p = '-';
	wisp__buf_put(b, p, (size_t)(d + sizeof d - p));
}

/* wisp__buf_vprintf appends vsnprintf's output; -1 if vsnprintf fails. */
WISP__FN int wisp__buf_vprintf(wisp__buf *b, const char *fmt, va_list ap) {
	va_list aq;
	int n;
	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return -1;
	wisp__buf_reserve(b, (size_t)n);
	n = vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	if (n < 0) {
		b->p[b->len] = 0;
		return -1;
	}
	b->len += (size_t)n;
	return 0;
}

/* wisp__buf_printf is wisp__buf_vprintf with arguments; fmt is one
 * conversion built by wisp__vformat, hence no format attribute. */
WISP__FN int wisp__buf_printf(wisp__buf *b, const char *fmt, ...) {
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = wisp__buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

/* ------------------------------------------------------------------ */
/* JSON reader                                                          */
/* ------------------------------------------------------------------ */
/* It reads RFC 8259 JSON without recursion and never reads outside the
 * span it is given; it does not check that strings are valid UTF-8
 * (bytes of 0x80 and above pass through, as in Go's encoding/json). */

WISP__FN const char *wisp__ws(const char *p, const char *e) {
	while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

WISP__FN int wisp__hex4(const char *p, const char *e, unsigned *out) {
	unsigned v = 0;
	int i;
	if (e - p < 4)
		return 0;
	for (i = 0; i < 4; i++) {
		char c = p[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return 0;
	}
	*out = v;
	return 1;
}

/* wisp__scan_string checks the string token at p and returns the byte
 * after its closing quote, or NULL. */
WISP__FN const char *wisp__scan_string(const char *p, const char *e) {
	unsigned u;
	if (p >= e || *p != '"')
		return NULL;
	for (p++; p < e;) {
		unsigned char c = (unsigned char)*p;
		if (c == '"')
			return p + 1;
		if (c < 0x20)
			return NULL;
		if (c != '\\') {
			p++;
			continue;
		}
		if (++p >= e)
			return NULL;
		switch (*p) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			p++;
			break;
		case 'u':
			if (!wisp__hex4(p + 1, e, &u))
				return NULL;
			p += 5;
			break;
		default:
			return NULL;
		}
	}
	return NULL;
}

WISP__FN const char *wisp__scan_digits(const char *p, const char *e) {
	if (p >= e || *p < '0' || *p > '9')
		return NULL;
	while (p < e && *p >= '0' && *p <= '9')
		p++;
	return p;
}

/* wisp__scan_number checks the number token at p and returns the byte
 * after it, or NULL. */
WISP__FN const char *wisp__scan_number(const char *p, const char *e) {
	if (p < e && *p == '-')
		p++;
	if (p < e && *p == '0')
		p++;
	else if (!(p = wisp__scan_digits(p, e)))
		return NULL;
	if (p < e && *p == '.' && !(p = wisp__scan_digits(p + 1, e)))
		return NULL;
	if (p < e && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < e && (*p == '+' || *p == '-'))
			p++;
		p = wisp__scan_digits(p, e);
	}
	return p;
}

WISP__FN const char *wisp__scan_word(const char *p, const char *e, const char *w, size_t n) {
	return (size_t)(e - p) >= n && memcmp(p, w, n) == 0 ? p + n : NULL;
}

/* wisp__scan_value checks the value at p (after white space) and returns
 * the byte after it, or NULL. It accepts at most max levels of nesting
 * (max <= WISP_JSON_MAX_DEPTH), kept in a bit stack, not in recursion, so
 * hostile depth costs no more than WISP_JSON_MAX_DEPTH/8 bytes of stack. */
WISP__FN const char *wisp__scan_value(const char *p, const char *e, size_t max) {
	unsigned char stack[(WISP_JSON_MAX_DEPTH + 7) / 8]; /* bit set: an object */
	size_t depth = 0;
	int obj;
value:
	p = wisp__ws(p, e);
	if (p >= e)
		return NULL;
	switch (*p) {
	case '{':
	case '[':
		if (depth >= max)
			return NULL;
		obj = *p == '{';
		if (obj)
			stack[depth / 8] |= (unsigned char)(1u << (depth % 8));
		else
			stack[depth / 8] &= (unsigned char)~(1u << (depth % 8));
		depth++;
		p = wisp__ws(p + 1, e);
		if (p < e && *p == (obj ? '}' : ']')) {
			p++;
			depth--;
			goto after;
		}
		if (obj)
			goto key;
		goto value;
	case '"':
		p = wisp__scan_string(p, e);
		break;
	case 't':
		p = wisp__scan_word(p, e, "true", 4);
		break;
	case 'f':
		p = wisp__scan_word(p, e, "false", 5);
		break;
	case 'n':
		p = wisp__scan_word(p, e, "null", 4);
		break;
	default:
		p = wisp__scan_number(p, e);
	}
	if (!p)
		return NULL;
after:
	if (depth == 0)
		return p;
	p = wisp__ws(p, e);
	if (p >= e)
		return NULL;
	obj = (stack[(depth - 1) / 8] >> ((depth - 1) % 8)) & 1;
	if (*p == ',') {
		p++;
		if (obj)
			goto key;
		goto value;
	}
	if (*p == (obj ? '}' : ']')) {
		p++;
		depth--;
		goto after;
	}
	return NULL;
key:
	p = wisp__scan_string(wisp__ws(p, e), e);
	if (!p)
		return NULL;
	p = wisp__ws(p, e);
	if (p >= e || *p != ':')
		return NULL;
	p++;
	goto value;
}

WISP__FN int wisp__utf8_put(unsigned cp, unsigned char out[4]) {
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

/* wisp__next_char decodes one character of a string's body (between the
 * quotes, ending at e) at *pp into out, advances *pp, and returns the
 * number of bytes written (1 to 4), or -1 on a bad escape. A surrogate
 * that is not half of a pair becomes U+FFFD, as in Go. */
WISP__FN int wisp__next_char(const char **pp, const char *e, unsigned char out[4]) {
	const char *p = *pp;
	unsigned cp, lo;
	if (*p != '\\') {
		out[0] = (unsigned char)*p;
		*pp = p + 1;
		return 1;
	}
	if (++p >= e)
		return -1;
	switch (*p++) {
	case '"': cp = '"'; break;
	case '\\': cp = '\\'; break;
	case '/': cp = '/'; break;
	case 'b': cp = '\b'; break;
	case 'f': cp = '\f'; break;
	case 'n': cp = '\n'; break;
	case 'r': cp = '\r'; break;
	case 't': cp = '\t'; break;
	case 'u':
		if (!wisp__hex4(p, e, &cp))
			return -1;
		p += 4;
		if (cp >= 0xD800 && cp <= 0xDBFF) {
			if (e - p >= 6 && p[0] == '\\' && p[1] == 'u' && wisp__hex4(p + 2, e, &lo) &&
			    lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			} else {
				cp = 0xFFFD;
			}
		} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
			cp = 0xFFFD;
		}
		break;
	default:
		return -1;
	}
	*pp = p;
	return wisp__utf8_put(cp, out);
}

/* wisp__key_eq reports whether the string body s..e, decoded, is key. */
WISP__FN int wisp__key_eq(const char *s, const char *e, const char *key, size_t klen) {
	size_t i = 0;
	unsigned char c[4];
	while (s < e) {
		int n = wisp__next_char(&s, e, c);
		if (n < 0 || klen - i < (size_t)n || memcmp(key + i, c, (size_t)n) != 0)
			return 0;
		i += (size_t)n;
	}
	return i == klen;
}

WISP__FN wisp_span wisp__trim(wisp_span v) {
	const char *p = v.ptr, *e;
	if (!p)
		return v;
	e = p + v.len;
	p = wisp__ws(p, e);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
		e--;
	v.ptr = p;
	v.len = (size_t)(e - p);
	return v;
}

/* wisp_json_valid reports (1 or 0) whether doc is exactly one JSON value,
 * white space around it allowed. */
WISP__FN int wisp_json_valid(wisp_span doc) {
	const char *e, *p;
	if (!doc.ptr)
		return 0;
	e = doc.ptr + doc.len;
	p = wisp__scan_value(doc.ptr, e, WISP_JSON_MAX_DEPTH);
	return p && wisp__ws(p, e) == e;
}

/* wisp_json_typeof returns the type of the JSON value v (white space
 * around it allowed), or WISP_JSON_INVALID if v is not exactly one valid
 * value. It reads all of v. */
WISP__FN wisp_json_type wisp_json_typeof(wisp_span v) {
	v = wisp__trim(v);
	if (!wisp_json_valid(v))
		return WISP_JSON_INVALID;
	switch (v.ptr[0]) {
	case 'n': return WISP_JSON_NULL;
	case 't': case 'f': return WISP_JSON_BOOL;
	case '"': return WISP_JSON_STRING;
	case '[': return WISP_JSON_ARRAY;
	case '{': return WISP_JSON_OBJECT;
	default: return WISP_JSON_NUMBER;
	}
}

/* wisp__json_get_keys looks up n top-level keys of obj in one pass over it
 * (each pass over the bytes costs: Wisp's sandbox checks for a stop at
 * every loop iteration). found[i] is set when keys[i] is present (the last
 * one wins) and vals[i] holds its value. It returns -1 if obj is not a
 * valid JSON object, else the number of keys found. */
WISP__FN int wisp__json_get_keys(wisp_span obj, const char *const *keys, size_t n, wisp_span *vals, int *found) {
	const char *p, *e, *ks, *vs;
	size_t i, kl, klen[8];
	int count = 0, plain;
	if (!obj.ptr || n > 8)
		return -1;
	for (i = 0; i < n; i++) {
		klen[i] = strlen(keys[i]);
		found[i] = 0;
	}
	p = obj.ptr;
	e = p + obj.len;
	p = wisp__ws(p, e);
	if (p >= e || *p != '{')
		return -1;
	p = wisp__ws(p + 1, e);
	if (p < e && *p == '}') {
		p++;
	} else {
		for (;;) {
			int match = -1;
			ks = p;
			p = wisp__scan_string(p, e);
			if (!p)
				return -1;
			/* A key without escapes is its own bytes: compared at once,
			 * not decoded character by character for each key asked. */
			kl = (size_t)(p - 1 - (ks + 1));
			plain = memchr(ks + 1, '\\', kl) == NULL;
			for (i = 0; i < n && match < 0; i++)
				if (plain ? kl == klen[i] && memcmp(ks + 1, keys[i], kl) == 0
				          : wisp__key_eq(ks + 1, p - 1, keys[i], klen[i]))
					match = (int)i;
			p = wisp__ws(p, e);
			if (p >= e || *p != ':')
				return -1;
			vs = wisp__ws(p + 1, e);
			p = wisp__scan_value(vs, e, WISP_JSON_MAX_DEPTH - 1); /* inside obj */
			if (!p)
				return -1;
			if (match >= 0) {
				vals[match].ptr = vs;
				vals[match].len = (size_t)(p - vs);
				found[match] = 1;
			}
			p = wisp__ws(p, e);
			if (p >= e)
				return -1;
			if (*p == '}') {
				p++;
				break;
			}
			if (*p != ',')
				return -1;
			p = wisp__ws(p + 1, e);
		}
	}
	if (wisp__ws(p, e) != e)
		return -1;
	for (i = 0; i < n; i++)
		count += found[i];
	return count;
}

/* wisp_json_get finds the member key of the JSON object obj and sets *val
 * to its value's text (val may be NULL). It returns 1 if found, 0 if obj
 * has no member key, and -1 if obj is not a valid JSON object (any error
 * anywhere in it). Keys are compared after unescaping; with duplicate
 * keys the last wins, as in JavaScript and Go. Members of nested objects
 * are not searched: call wisp_json_get on a member's value for that. */
WISP__FN int wisp_json_get(wisp_span obj, const char *key, wisp_span *val) {
	wisp_span v = {NULL, 0};
	int found;
	if (!key || wisp__json_get_keys(obj, &key, 1, &v, &found) < 0)
		return -1;
	if (found && val)
		*val = v;
	return found;
}

/* wisp__decode_string decodes the string token v, which
 * wisp__scan_string has checked (as wisp__json_get_keys checks every value
 * it returns), into dst as wisp_json_string does. */
WISP__FN int wisp__decode_string(wisp_span v, char *dst, size_t cap, size_t *len) {
	const char *p, *e;
	size_t o = 0;
	unsigned char c[4];
	if (!dst || cap == 0)
		return -2;
	p = v.ptr + 1;
	e = v.ptr + v.len - 1;
	while (p < e) {
		/* The bytes up to the next escape are copied as they are (the
		 * string is checked): one copy, not one per byte. */
		const char *esc = (const char *)memchr(p, '\\', (size_t)(e - p));
		size_t run = (size_t)((esc ? esc : e) - p);
		int n;
		if (run > 0) {
			if (cap - o <= run) {
				dst[0] = 0;
				return -2;
			}
			memcpy(dst + o, p, run);
			o += run;
			p += run;
			continue;
		}
		n = wisp__next_char(&p, e, c);
		if (n < 0)
			return -1;
		if (cap - o <= (size_t)n) {
			dst[0] = 0;
			return -2;
		}
		memcpy(dst + o, c, (size_t)n);
		o += (size_t)n;
	}
	dst[o] = 0;
	if (len)
		*len = o;
	return 0;
}

/* wisp_json_string decodes the JSON string v (white space around it
 * allowed) into dst, which has room for cap bytes, and NUL-terminates it;
 * *len (if len is not NULL) gets the decoded length, NUL bytes from
 * \u0000 included. A cap of v.len always suffices. It returns 0, -1 if v
 * is not a valid JSON string, or -2 if cap is too small (dst then holds
 * nothing useful). */
WISP__FN int wisp_json_string(wisp_span v, char *dst, size_t cap, size_t *len) {
	v = wisp__trim(v);
	if (!v.ptr || wisp__scan_string(v.ptr, v.ptr + v.len) != v.ptr + v.len)
		return -1;
	return wisp__decode_string(v, dst, cap, len);
}

/* wisp_json_number parses the JSON number v (white space around it
 * allowed) into *out: 0, or -1 if v is not a JSON number. Numbers too
 * large for a double become +/-HUGE_VAL. */
WISP__FN int wisp_json_number(wisp_span v, double *out) {
	char small[64], *s;
	v = wisp__trim(v);
	if (!v.ptr || v.len == 0 || wisp__scan_number(v.ptr, v.ptr + v.len) != v.ptr + v.len)
		return -1;
	s = v.len < sizeof small ? small : (char *)malloc(v.len + 1);
	if (!s)
		wisp__oom();
	memcpy(s, v.ptr, v.len);
	s[v.len] = 0;
	*out = strtod(s, NULL);
	if (s != small)
		free(s);
	return 0;
}

/* wisp_json_bool parses true or false (white space around it allowed)
 * into *out (1 or 0): 0, or -1 if v is neither. */
WISP__FN int wisp_json_bool(wisp_span v, int *out) {
	v = wisp__trim(v);
	if (v.ptr && v.len == 4 && memcmp(v.ptr, "true", 4) == 0)
		*out = 1;
	else if (v.ptr && v.len == 5 && memcmp(v.ptr, "false", 5) == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* JSON writer                                                          */
/* ------------------------------------------------------------------ */

/* wisp__utf8_valid returns the length of the valid UTF-8 sequence at s
 * (n bytes available, n >= 1, s[0] >= 0x80), or 0. */
WISP__FN size_t wisp__utf8_valid(const unsigned char *s, size_t n) {
	unsigned char c = s[0], lo = 0x80, hi = 0xBF;
	size_t len, i;
	if (c >= 0xC2 && c <= 0xDF)
		len = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4;
	else
		return 0;
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F; /* no UTF-16 surrogates */
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F; /* nothing above U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xBF)
			return 0;
	return len;
}

/* wisp__buf_escape appends the n bytes at s as the inside of a JSON string:
 * " and \ and control characters escaped, invalid UTF-8 replaced by
 * \ufffd (byte by byte, as Go does), so the output is always valid. */
WISP__FN void wisp__buf_escape(wisp__buf *b, const char *s, size_t n) {
	static const char hex[] = "0123456789abcdef";
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, run = 0, k;
	wisp__buf_reserve(b, n + 2);
	while (i < n) {
		unsigned char c = u[i];
		char esc[6];
		size_t elen = 0;
		if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0x80 && (k = wisp__utf8_valid(u + i, n - i)) > 0) {
			i += k;
			continue;
		}
		/* flush the plain run before u[i] */
		wisp__buf_put(b, s + run, i - run);
		esc[elen++] = '\\';
		switch (c) {
		case '"': esc[elen++] = '"'; break;
		case '\\': esc[elen++] = '\\'; break;
		case '\n': esc[elen++] = 'n'; break;
		case '\r': esc[elen++] = 'r'; break;
		case '\t': esc[elen++] = 't'; break;
		case '\b': esc[elen++] = 'b'; break;
		case '\f': esc[elen++] = 'f'; break;
		default:
			if (c >= 0x80) {
				memcpy(esc + elen, "ufffd", 5);
				elen += 5;
			} else {
				memcpy(esc + elen, "u00", 3);
				elen += 3;
				esc[elen++] = hex[c >> 4];
				esc[elen++] = hex[c & 15];
			}
		}
		wisp__buf_put(b, esc, elen);
		i++;
		run = i;
	}
	wisp__buf_put(b, s + run, n - run);
}

/* wisp_json_escape returns s (a C string; NULL is "") as the inside of a
 * JSON string, to put between quotes: see %J of wisp_result_printf. It
 * lives until the handler returns. */
WISP__FN const char *wisp_json_escape(wisp_call *call, const char *s) {
	wisp__buf b = {NULL, 0, 0};
	char *out;
	wisp__buf_escape(&b, s ? s : "", s ? strlen(s) : 0);
	out = (char *)wisp__arena(call, b.len + 1);
	memcpy(out, b.p, b.len + 1);
	free(b.p);
	return out;
}

/* wisp__vformat appends fmt formatted like vprintf, plus %J: the C string
 * argument (NULL is "") JSON-escaped, without quotes, up to the precision
 * in bytes if one is given. It returns 0, or -1 for a conversion it does
 * not support (%n, wide strings and characters) or a bad format. */
WISP__FN int wisp__vformat(wisp__buf *b, const char *fmt, va_list ap) {
	const char *f = fmt, *s;
	while (*f) {
		char spec[16], conv;
		size_t sl = 1;
		int width = 0, prec = -1, with_prec, rc = 0;
		enum { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_J, LEN_Z, LEN_T, LEN_BIGL } lm = LEN_NONE;
		const char *lmstr = "";
		if (*f != '%') {
			s = f;
			while (*f && *f != '%')
				f++;
			wisp__buf_put(b, s, (size_t)(f - s));
			continue;
		}
		f++;
		spec[0] = '%';
		for (; *f && strchr("-+ #0", *f); f++) /* flags, each once */
			if (!memchr(spec + 1, *f, sl - 1))
				spec[sl++] = *f;
		if (*f == '*') {
			width = va_arg(ap, int);
			f++;
		} else {
			for (; *f >= '0' && *f <= '9'; f++) {
				if (width > 100000)
					return -1;
				width = width * 10 + (*f - '0');
			}
		}
		if (*f == '.') {
			f++;
			prec = 0;
			if (*f == '*') {
				prec = va_arg(ap, int);
				f++;
			} else {
				for (; *f >= '0' && *f <= '9'; f++) {
					if (prec > 100000)
						return -1;
					prec = prec * 10 + (*f - '0');
				}
			}
		}
		switch (*f) {
		case 'h':
			if (f[1] == 'h') { lm = LEN_HH; lmstr = "hh"; f += 2; } else { lm = LEN_H; lmstr = "h"; f++; }
			break;
		case 'l':
			if (f[1] == 'l') { lm = LEN_LL; lmstr = "ll"; f += 2; } else { lm = LEN_L; lmstr = "l"; f++; }
			break;
		case 'j': lm = LEN_J; lmstr = "j"; f++; break;
		case 'z': lm = LEN_Z; lmstr = "z"; f++; break;
		case 't': lm = LEN_T; lmstr = "t"; f++; break;
		case 'L': lm = LEN_BIGL; lmstr = "L"; f++; break;
		}
		conv = *f;
		if (!conv)
			return -1;
		f++;
		if (conv == '%') {
			wisp__buf_put(b, "%", 1);
			continue;
		}
		if (conv == 'J') {
			if (lm != LEN_NONE)
				return -1;
			s = va_arg(ap, const char *);
			if (!s)
				s = "";
			if (prec >= 0) {
				const char *z = (const char *)memchr(s, 0, (size_t)prec); /* stops at the NUL */
				wisp__buf_escape(b, s, z ? (size_t)(z - s) : (size_t)prec);
			} else {
				wisp__buf_escape(b, s, strlen(s));
			}
			continue;
		}
		/* The plain forms of the commonest conversions are written here:
		 * through vsnprintf, called twice per conversion (to size, then
		 * to write), they were a fifth of the example's time in Wasm. */
		if (sl == 1 && width == 0 && prec < 0 && (lm == LEN_NONE || lm == LEN_L || lm == LEN_LL)) {
			if (conv == 's' && lm == LEN_NONE) {
				s = va_arg(ap, const char *);
				if (!s)
					s = "(null)";
				wisp__buf_put(b, s, strlen(s));
				continue;
			}
			if (conv == 'd' || conv == 'i') {
				long long x = lm == LEN_NONE ? va_arg(ap, int) : lm == LEN_L ? va_arg(ap, long) : va_arg(ap, long long);
				wisp__buf_decimal(b, x < 0 ? 0ULL - (unsigned long long)x : (unsigned long long)x, x < 0);
				continue;
			}
			if (conv == 'u') {
				unsigned long long x = lm == LEN_NONE ? va_arg(ap, unsigned) : lm == LEN_L ? va_arg(ap, unsigned long)
				                                                                          : va_arg(ap, unsigned long long);
				wisp__buf_decimal(b, x, 0);
				continue;
			}
		}
		/* Any other conversion goes to vsnprintf as "%<flags>*[.*]<len><conv>". */
		with_prec = conv != 'c' && conv != 'p';
		spec[sl++] = '*';
		if (with_prec) {
			spec[sl++] = '.';
			spec[sl++] = '*';
		}
		memcpy(spec + sl, lmstr, strlen(lmstr));
		sl += strlen(lmstr);
		spec[sl++] = conv;
		spec[sl] = 0;
#define WISP__EMIT(T)                                                                   \
	do {                                                                            \
		T wisp__x = va_arg(ap, T);                                              \
		rc = with_prec ? wisp__buf_printf(b, spec, width, prec, wisp__x)        \
		               : wisp__buf_printf(b, spec, width, wisp__x);             \
	} while (0)
		switch (conv) {
		case 'd': case 'i':
			switch (lm) {
			case LEN_NONE: case LEN_HH: case LEN_H: WISP__EMIT(int); break;
			case LEN_L: WISP__EMIT(long); break;
			case LEN_LL: WISP__EMIT(long long); break;
			case LEN_J: WISP__EMIT(intmax_t); break;
			case LEN_Z: case LEN_T: WISP__EMIT(ptrdiff_t); break;
			default: return -1;
			}
			break;
		case 'o': case 'u': case 'x': case 'X':
			switch (lm) {
			case LEN_NONE: case LEN_HH: case LEN_H: WISP__EMIT(unsigned); break;
			case LEN_L: WISP__EMIT(unsigned long); break;
			case LEN_LL: WISP__EMIT(unsigned long long); break;
			case LEN_J: WISP__EMIT(uintmax_t); break;
			case LEN_Z: case LEN_T: WISP__EMIT(size_t); break;
			default: return -1;
			}
			break;
		case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
			if (lm == LEN_NONE || lm == LEN_L)
				WISP__EMIT(double);
			else if (lm == LEN_BIGL)
				WISP__EMIT(long double);
			else
				return -1;
			break;
		case 'c':
			if (lm != LEN_NONE)
				return -1;
			WISP__EMIT(int);
			break;
		case 's':
			if (lm != LEN_NONE)
				return -1;
			s = va_arg(ap, const char *);
			rc = wisp__buf_printf(b, spec, width, prec, s ? s : "(null)");
			break;
		case 'p':
			if (lm != LEN_NONE)
				return -1;
			WISP__EMIT(void *);
			break;
		default:
			return -1;
		}
#undef WISP__EMIT
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* Results and logs                                                     */
/* ------------------------------------------------------------------ */

WISP__FN void wisp__set_result(wisp_call *call, wisp__buf *b) {
	free(call->result_);
	if (!b->p)
		wisp__buf_put(b, "", 0);
	call->result_ = b->p;
	call->result_len_ = b->len;
}

/* wisp_log writes one line (format as printf; a newline is added) to
 * stderr, which is the activation's log. */
WISP__FN WISP__PRINTF(1, 2) void wisp_log(const char *fmt, ...) {
	wisp__buf b = {NULL, 0, 0};
	va_list ap, aq;
	va_start(ap, fmt);
	/* wisp__vformat first: it writes the plain conversions itself, where
	 * vsnprintf makes two passes; what it does not support goes to
	 * vsnprintf as before. */
	va_copy(aq, ap);
	if (wisp__vformat(&b, fmt, aq) < 0) {
		b.len = 0;
		if (wisp__buf_vprintf(&b, fmt, ap) < 0)
			wisp__buf_put(&b, fmt, strlen(fmt));
	}
	va_end(aq);
	va_end(ap);
	wisp__buf_put(&b, "\n", 1);
	fwrite(b.p, 1, b.len, stderr);
	fflush(stderr);
	free(b.p);
}

WISP__FN void wisp__set_error_text(wisp_call *call, const char *msg, size_t n) {
	wisp__buf b = {NULL, 0, 0};
	wisp__buf_put(&b, "{\"error\":\"", 10);
	wisp__buf_escape(&b, msg, n);
	wisp__buf_put(&b, "\"}", 2);
	wisp__set_result(call, &b);
}

/* wisp_result sets the activation's result to the n bytes of JSON at json
 * (copied), which should be a JSON object. It returns 0. */
WISP__FN int wisp_result(wisp_call *call, const char *json, size_t n) {
	wisp__buf b = {NULL, 0, 0};
	wisp__buf_put(&b, json, n);
	wisp__set_result(call, &b);
	return 0;
}

/* wisp_result_printf sets the activation's result to fmt formatted as by
 * printf, which should make a JSON object, with one more conversion: %J
 * writes a C string JSON-escaped, without quotes (NULL is ""), so that
 * "\"%J\"" is always a valid JSON string; %.<n>J escapes at most n bytes.
 * Conversions %n, %lc and %ls are not supported. As %J is not standard,
 * the compiler cannot check the arguments against fmt: check them.
 * It returns 0, or -1 on a bad format, when the result is set to an
 * application error saying so. */
WISP__FN int wisp_result_printf(wisp_call *call, const char *fmt, ...) {
	wisp__buf b = {NULL, 0, 0};
	va_list ap;
	int rc;
	va_start(ap, fmt);
	rc = wisp__vformat(&b, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		static const char msg[] = "wisp_result_printf: the format has a conversion it does not support";
		free(b.p);
		wisp_log("%s: \"%s\"", msg, fmt);
		wisp__set_error_text(call, msg, sizeof msg - 1);
		return -1;
	}
	wisp__set_result(call, &b);
	return 0;
}

/* wisp_error sets the activation's result to an application error,
 * {"error": message}, with the message formatted as by printf (and
 * escaped). Wisp records the activation as "application error" and a
 * blocking invoke answers HTTP 502. It returns 0. */
WISP__FN WISP__PRINTF(2, 3) int wisp_error(wisp_call *call, const char *fmt, ...) {
	wisp__buf msg = {NULL, 0, 0};
	va_list ap;
	va_start(ap, fmt);
	if (wisp__buf_vprintf(&msg, fmt, ap) < 0) {
		free(msg.p);
		msg.p = NULL;
		msg.len = msg.cap = 0;
		wisp__buf_put(&msg, fmt, strlen(fmt));
	}
	va_end(ap);
	wisp__set_error_text(call, msg.p ? msg.p : "", msg.len);
	free(msg.p);
	return 0;
}

/* ------------------------------------------------------------------ */
/* Parameters and context                                               */
/* ------------------------------------------------------------------ */

/* wisp_params returns the activation's parameters: the text of a JSON
 * object as Wisp passed it. */
WISP__FN wisp_span wisp_params(wisp_call *call) { return call->params_; }

/* wisp_param_raw returns the text of the top-level parameter key (any
 * JSON value), or a span of ptr NULL if there is none or the parameters
 * are not a valid JSON object. Read it with the wisp_json_ functions. */
WISP__FN wisp_span wisp_param_raw(wisp_call *call, const char *key) {
	wisp_span v = {NULL, 0};
	if (wisp_json_get(call->params_, key, &v) != 1)
		v.ptr = NULL, v.len = 0;
	return v;
}

/* wisp_param_string returns the top-level parameter key, unescaped, if it
 * is a JSON string, and def otherwise (missing, null, another type). A
 * \u0000 in it ends the C string early; wisp_json_string on
 * wisp_param_raw gives all of it. */
WISP__FN const char *wisp_param_string(wisp_call *call, const char *key, const char *def) {
	wisp_span v = wisp_param_raw(call, key);
	char *dst;
	if (!v.ptr || v.ptr[0] != '"')
		return def;
	dst = (char *)wisp__arena(call, v.len); /* >= the decoded length + 1 */
	return wisp__decode_string(v, dst, v.len, NULL) == 0 ? dst : def; /* checked by wisp_param_raw */
}

/* wisp_param_number returns the top-level parameter key if it is a JSON
 * number, and def otherwise. */
WISP__FN double wisp_param_number(wisp_call *call, const char *key, double def) {
	double d;
	wisp_span v = wisp_param_raw(call, key);
	return v.ptr && wisp_json_number(v, &d) == 0 ? d : def;
}

/* wisp_param_bool returns the top-level parameter key (1 for true, 0 for
 * false) if it is a JSON boolean, and def otherwise. */
WISP__FN int wisp_param_bool(wisp_call *call, const char *key, int def) {
	int b;
	wisp_span v = wisp_param_raw(call, key);
	return v.ptr && wisp_json_bool(v, &b) == 0 ? b : def;
}

/* The activation's context (docs/wasm-abi.md): never NULL, "" when Wisp
 * did not say. wisp_action_name is the fully qualified name, like
 * "/ns/pkg/name". wisp_deadline is when the activation is stopped, in Unix
 * milliseconds (0 when unknown). */
WISP__FN const char *wisp_activation_id(wisp_call *call) { return call->activation_id_; }
WISP__FN const char *wisp_namespace(wisp_call *call) { return call->namespace_; }
WISP__FN const char *wisp_action_name(wisp_call *call) { return call->action_name_; }
WISP__FN const char *wisp_action_version(wisp_call *call) { return call->action_version_; }
WISP__FN const char *wisp_api_host(wisp_call *call) { return call->api_host_; }
WISP__FN int64_t wisp_deadline(wisp_call *call) { return call->deadline_; }

/* wisp__ctx_string decodes a string value v of the reactor's context
 * object into the call's arena; "" when v is not a string. */
WISP__FN const char *wisp__ctx_string(wisp_call *call, wisp_span v) {
	char *dst;
	if (v.len == 0 || v.ptr[0] != '"')
		return "";
	dst = (char *)wisp__arena(call, v.len);
	return wisp__decode_string(v, dst, v.len, NULL) == 0 ? dst : ""; /* checked by wisp__json_get_keys */
}

WISP__FN int64_t wisp__parse_ms(const char *s) {
	char *end;
	long long v;
	if (!s || !*s)
		return 0;
	v = strtoll(s, &end, 10);
	return *end == 0 && v > 0 ? (int64_t)v : 0;
}

WISP__FN const char *wisp__env(const char *name) {
	const char *v = getenv(name);
	return v ? v : "";
}

/* wisp__call_begin readies call for an activation with params (the JSON
 * object) and ctx: the reactor's context object, or, when ctx is NULL,
 * the __OW_* environment variables. */
WISP__FN void wisp__call_begin(wisp_call *call, const char *params, size_t params_len, const char *ctx, size_t ctx_len) {
	memset(call, 0, sizeof *call);
	call->params_.ptr = params ? params : "{}";
	call->params_.len = params ? params_len : 2;
	if (ctx) {
		static const char *const keys[6] = {"activationId", "namespace", "actionName", "actionVersion", "apiHost", "deadline"};
		const char **dst[5];
		wisp_span c = {ctx, ctx_len}, v[6];
		int found[6], i;
		double d;
		dst[0] = &call->activation_id_;
		dst[1] = &call->namespace_;
		dst[2] = &call->action_name_;
		dst[3] = &call->action_version_;
		dst[4] = &call->api_host_;
		if (wisp__json_get_keys(c, keys, 6, v, found) < 0)
			memset(found, 0, sizeof found);
		for (i = 0; i < 5; i++)
			*dst[i] = found[i] ? wisp__ctx_string(call, v[i]) : "";
		if (found[5]) {
			if (v[5].ptr[0] == '"')
				call->deadline_ = wisp__parse_ms(wisp__ctx_string(call, v[5]));
			else if (wisp_json_number(v[5], &d) == 0 && d > 0 && d < 9e18)
				call->deadline_ = (int64_t)d;
		}
	} else {
		call->activation_id_ = wisp__env("__OW_ACTIVATION_ID");
		call->namespace_ = wisp__env("__OW_NAMESPACE");
		call->action_name_ = wisp__env("__OW_ACTION_NAME");
		call->action_version_ = wisp__env("__OW_ACTION_VERSION");
		call->api_host_ = wisp__env("__OW_API_HOST");
		call->deadline_ = wisp__parse_ms(getenv("__OW_DEADLINE"));
	}
}

/* wisp__call_run runs the handler and makes sure there is a result.
 * Whether it is a JSON object is Wisp's to check, which refuses anything
 * else with an error that quotes it (checking here too cost a pass over
 * every result). */
WISP__FN void wisp__call_run(wisp_call *call, wisp_handler handler) {
	int rc = handler(call);
	if (!call->result_) {
		if (rc == 0) {
			wisp_result(call, "{}", 2);
		} else {
			wisp__buf b = {NULL, 0, 0};
			wisp__buf_printf(&b, "{\"error\":\"the action's handler returned %d without a result\"}", rc);
			wisp__set_result(call, &b);
		}
	}
}

/* wisp__call_end frees what the call allocated, except the result, which
 * it returns (the caller frees it). */
WISP__FN char *wisp__call_end(wisp_call *call) {
	while (call->arena_) {
		wisp__block *next = call->arena_->next;
		free(call->arena_);
		call->arena_ = next;
	}
	return call->result_;
}

/* ------------------------------------------------------------------ */
/* Entry points                                                         */
/* ------------------------------------------------------------------ */

#ifdef WISP_REACTOR

/* The result of the previous activation, kept for Wisp to read until the
 * next call into the instance (docs/wasm-abi.md). */
static char *wisp__last_result __attribute__((unused));

WISP__FN void *wisp__alloc(uint32_t len) { return malloc(len ? len : 1); }

WISP__FN uint64_t wisp__invoke(wisp_handler handler, char *params, uint32_t params_len, char *ctx, uint32_t ctx_len) {
	wisp_call call;
	uint64_t ret;
	free(wisp__last_result);
	wisp__last_result = NULL;
	wisp__call_begin(&call, params, params_len, ctx ? ctx : "{}", ctx ? ctx_len : 2);
	wisp__call_run(&call, handler);
	wisp__last_result = wisp__call_end(&call);
	free(params); /* the input buffers came from wisp_alloc: ours */
	free(ctx);
	fflush(stdout); /* what the handler printed is this activation's log */
	fflush(stderr);
	ret = (uint64_t)(uintptr_t)wisp__last_result << 32 | (uint32_t)call.result_len_;
	return ret;
}

/* WISP_ACTION(handler) makes handler the action: here, by exporting
 * wisp_alloc and wisp_invoke (the reactor form of docs/wasm-abi.md). */
#define WISP_ACTION(handler)                                                                     \
	__attribute__((export_name("wisp_alloc"))) void *wisp_alloc(uint32_t len);               \
	void *wisp_alloc(uint32_t len) { return wisp__alloc(len); }                              \
	__attribute__((export_name("wisp_invoke"))) uint64_t wisp_invoke(                        \
	    char *params, uint32_t params_len, char *ctx, uint32_t ctx_len);                     \
	uint64_t wisp_invoke(char *params, uint32_t params_len, char *ctx, uint32_t ctx_len) {   \
		return wisp__invoke(handler, params, params_len, ctx, ctx_len);                  \
	}

#else /* the command form */

/* wisp__main runs one activation as a WASI command: stdin to stdout. */
WISP__FN int wisp__main(wisp_handler handler) {
	wisp__buf in = {NULL, 0, 0};
	wisp_call call;
	char *result;
	size_t n;
	int ok;
	for (;;) {
		wisp__buf_reserve(&in, 65536);
		n = fread(in.p + in.len, 1, in.cap - in.len - 1, stdin);
		in.len += n;
		if (n == 0)
			break;
	}
	if (ferror(stdin)) {
		wisp_log("wisp: cannot read the parameters from stdin");
		return 1;
	}
	wisp__call_begin(&call, in.p, in.len, NULL, 0);
	wisp__call_run(&call, handler);
	result = wisp__call_end(&call);
	ok = fwrite(result, 1, call.result_len_, stdout) == call.result_len_ && fputc('\n', stdout) != EOF &&
	     fflush(stdout) == 0;
	free(result);
	free(in.p);
	return ok ? 0 : 1;
}

/* WISP_ACTION(handler) makes handler the action: here, by defining main
 * (the command form of docs/wasm-abi.md). */
#define WISP_ACTION(handler) \
	int main(void) { return wisp__main(handler); }

#endif /* WISP_REACTOR */

#endif /* WISP_H */
