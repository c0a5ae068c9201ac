/* test_wire.c — the shared outgoing message and its one-time WebSocket
 * framing (gateway/transport/wire.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "wire.h"

static void test_wire_msg(void **st)
{
    (void)st;
    /* with a prefix: packet = prefix + payload, framed as text */
    wire_msg *m = wire_msg_new(0, '4', 2);
    memcpy(wire_msg_data(m), "hi", 2);
    size_t n;
    const char *p = wire_msg_packet(m, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "4hi", 3);
    const unsigned char *f = (const unsigned char *)wire_msg_ws_frame(m, &n);
    assert_int_equal(n, 5);
    assert_int_equal(f[0], 0x81);
    assert_int_equal(f[1], 3);
    assert_memory_equal(f + 2, "4hi", 3);
    /* the alternative encoding is kept and freed with the message */
    assert_null(wire_msg_alt(m, &n));
    char *alt = strdup("alt");
    wire_msg_set_alt(m, &alt, 3);
    assert_null(alt);
    assert_string_equal(wire_msg_alt(m, &n), "alt");
    wire_msg *r = wire_msg_ref(m);
    wire_msg_unref(&m);
    assert_null(m);
    assert_string_equal(wire_msg_data(r), "hi");
    wire_msg_unref(&r);
    /* without a prefix: binary, the payload alone */
    wire_msg *b = wire_msg_new(1, WIRE_NO_PREFIX, 3);
    memcpy(wire_msg_data(b), "\x01\x02\x03", 3);
    p = wire_msg_packet(b, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "\x01\x02\x03", 3);
    f = (const unsigned char *)wire_msg_ws_frame(b, &n);
    assert_int_equal(n, 5);
    assert_int_equal(f[0], 0x82);
    assert_int_equal(f[1], 3);
    wire_msg_unref(&b);
    unsigned char h[10];
    assert_int_equal(wire_ws_header(h, 1, 126), 4);
    assert_int_equal(wire_ws_header(h, 2, 65536), 10);
    assert_int_equal(h[0], 0x82);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_wire_msg)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
