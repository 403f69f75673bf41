/*
 * hello: the example action of Wisp's C SDK (see README.md beside it).
 *
 * It greets params.name ("world" by default), logs the greeting, and says
 * which activation it is and how many activations this instance has
 * served. With params.fail true it answers an application error instead.
 */
#include "wisp.h"

static int hello(wisp_call *call) {
	/* A static survives between activations in the reactor form, where
	 * one instance serves many activations of one action; in the command
	 * form every activation starts afresh and it is always 1. */
	static long served;
	const char *name = wisp_param_string(call, "name", "world");

	served++;
	if (wisp_param_bool(call, "fail", 0))
		return wisp_error(call, "no greeting for %s today", name);
	wisp_log("greeting %s", name);
	/* %J writes a string JSON-escaped: the result is valid JSON whatever
	 * the name holds (quotes, newlines, any Unicode). */
	return wisp_result_printf(call,
	    "{\"greeting\":\"Hello, %J!\",\"served\":%ld,"
	    "\"activation\":{\"id\":\"%J\",\"namespace\":\"%J\",\"action\":\"%J\",\"deadline\":%lld}}",
	    name, served, wisp_activation_id(call), wisp_namespace(call), wisp_action_name(call),
	    (long long)wisp_deadline(call));
}

WISP_ACTION(hello)
