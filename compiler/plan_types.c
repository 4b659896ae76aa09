/* plan_types.c — the helpers of plan_types.h. */
#include "plan_types.h"

#include <string.h>

struct plan_input *plan_add_input(struct plan_step *s, const char *what, const char *source)
{
	if (s->nin >= s->capin) { /* most steps have one input: start small */
		s->capin = s->capin ? s->capin * 2 : 1;
		s->in = xrealloc(s->in, s->capin * sizeof(*s->in));
	}
	struct plan_input *in = &s->in[s->nin++];
	memset(in, 0, sizeof(*in));
	in->what = xstrdup(what);
	in->source = source ? xstrdup(source) : NULL;
	return in;
}
