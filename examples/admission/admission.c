/* admission.c — a worker that decides which handshakes may open a session
 * (the gateway runs with `--admission /`; PROTOCOL.md rule 39, README
 * "Refusing handshakes"), and serves "/" too.  Its policy, the one
 * tests/e2e/admission.test.js checks against the reference server:
 *
 *   Origin http://evil.example      refused, "bad origin"
 *   client address 203.0.113.66     refused, "banned" (an IP ban)
 *   query deny=1                    refused without a message ("Forbidden")
 *   anything else                   admitted; on connection: emit "hello" "c"
 *
 * The answer is given during the call here; a handler that must look
 * something up keeps the iog_admission handle and answers later.
 */
#include "iogate_worker.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static iog_worker *worker;

static const char *str_at(json_t *obj, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(obj, a), b));
}

static void admit(iog_admission *a, json_t *hs, void *user)
{
    (void)user;
    const char *origin = str_at(hs, "headers", "origin");
    const char *addr = json_string_value(json_object_get(hs, "address"));
    const char *deny = str_at(hs, "query", "deny");
    if (origin && strcmp(origin, "http://evil.example") == 0)
        iog_admission_answer(&a, false, "bad origin");
    else if (addr && strcmp(addr, "203.0.113.66") == 0)
        iog_admission_answer(&a, false, "banned");
    else if (deny && strcmp(deny, "1") == 0)
        iog_admission_answer(&a, false, NULL);
    else
        iog_admission_answer(&a, true, NULL);
}

static void on_connection(iog_socket *s, void *user)
{
    (void)user;
    iog_socket_emit(s, "hello", json_pack("[s]", "c"));
}

static void on_signal(int sig)
{
    (void)sig;
    iog_worker_stop(worker);
}

int main(void)
{
    worker = iog_worker_new(NULL, NULL);
    if (!worker) {
        fprintf(stderr, "admission: %s\n", iog_strerror());
        return 1;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    iog_on_admission(worker, admit, NULL);
    iog_on_connection(worker, on_connection, NULL);
    int rc = iog_worker_run(worker);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    iog_worker_destroy(&worker);
    return rc == 0 ? 0 : 1;
}
