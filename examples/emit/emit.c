/* emit.c — notify Socket.IO clients from any program: the C library's
 * emitter (workers/c/emitter.c, ipc/PROTOCOL.md rules 10d-10f) as a
 * command.
 *
 *   IOGATE_ENDPOINT=ipc:///run/iogate/workers.sock IOGATE_EMITTER_KEY=… \
 *     emit /chat news '["hello",1]' [--to SOCKET_ID | --room ROOM]…
 *
 * The third argument is the JSON array of event arguments.  Without --to
 * the event is broadcast to the namespace (or to the rooms given).  Exits 0
 * when the gateway took everything, 1 with the reason otherwise (a key that
 * does not name the namespace, a gateway that is not there). */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "iogate_worker.h"

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: %s NAMESPACE EVENT JSON-ARGS [--to ID | --room ROOM]...\n",
                argv[0]);
        return 2;
    }
    json_error_t jerr;
    json_t *args = json_loads(argv[3], JSON_DECODE_ANY, &jerr);
    if (!args) {
        fprintf(stderr, "emit: JSON-ARGS: %s\n", jerr.text);
        return 2;
    }
    const char *to = NULL;
    const char *rooms[64] = {NULL};
    size_t nr = 0;
    for (int i = 4; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--to") == 0)
            to = argv[i + 1];
        else if (strcmp(argv[i], "--room") == 0 && nr < 63)
            rooms[nr++] = argv[i + 1];
    }
    iog_emitter *e = iog_emitter_new(NULL, NULL, 5000);
    if (!e) {
        fprintf(stderr, "emit: %s\n", iog_strerror());
        json_decref(args);
        return 1;
    }
    int rc = to ? iog_emitter_emit(e, argv[1], to, argv[2], args)
                : iog_emitter_broadcast(e, argv[1], nr ? rooms : NULL, NULL, argv[2], args);
    /* The gateway answers only a refusal: give it a moment to say so. */
    if (rc == 0) rc = iog_emitter_flush(e, 300);
    if (rc < 0) fprintf(stderr, "emit: %s\n", iog_strerror());
    iog_emitter_destroy(&e);
    return rc < 0 ? 1 : 0;
}
