/*
 * fuzz_protocol — libFuzzer target for one control request line
 * (protocol.c, §8).  A decoded request dumps to JSON that decodes again
 * to the same command and body size.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proto_request req, again;
	char err[PROTO_ERR_LEN];
	char *text;

	if (proto_decode((const char *)data, size, &req, err, sizeof(err)) != 0)
		return 0;
	text = proto_dumps(req.root, JSON_COMPACT);
	if (text == NULL ||
	    proto_decode(text, strlen(text), &again, err, sizeof(err)) != 0 ||
	    again.cmd != req.cmd || again.bytes != req.bytes)
		abort();
	json_decref(again.root);
	json_decref(req.root);
	free(text);
	return 0;
}
