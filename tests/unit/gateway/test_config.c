/* test_config.c — command line and config file parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "config.h"
#include "util.h"

static int parse(gw_config *c, char *err, const char **args)
{
    char *argv[128];
    int argc = 0;
    argv[argc++] = "iogate";
    for (; *args; args++) {
        /* was an unchecked argv[argc++]: a longer list wrote past argv */
        assert_true(argc < (int)(sizeof argv / sizeof argv[0]) - 1);
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;
    gw_config_init(c);
    return gw_config_parse(c, argc, argv, err, 256);
}

static void test_defaults(void **st)
{
    gw_config c;
    char err[256];
    const char *a[] = {NULL};
    assert_int_equal(parse(&c, err, a), GW_CONFIG_OK);
    assert_string_equal(c.eio.host, "127.0.0.1");
    assert_int_equal(c.eio.port, 3000);
    assert_string_equal(c.eio.path, "/socket.io/");
    assert_int_equal(c.eio.ping_interval_ms, 25000);
    assert_int_equal(c.eio.ping_timeout_ms, 20000);
    assert_int_equal(c.eio.upgrade_timeout_ms, 10000);
    assert_int_equal(c.eio.max_payload, 1000000);
    assert_int_equal(c.eio.transports, EIO_TRANSPORT_POLLING | EIO_TRANSPORT_WEBSOCKET);
    assert_null(c.eio.cors_origins);
    assert_int_equal(c.connect_timeout_ms, 45000);
    assert_int_equal(c.max_attachments, 10);
    assert_null(c.ipc);
    assert_int_equal(c.echo, 0);
    assert_int_equal(c.log_level, GW_LOG_INFO);
    assert_int_equal(c.max_depth, 32);
    assert_int_equal(c.eio.max_connections, 0); /* from RLIMIT_NOFILE */
    assert_int_equal(c.eio.max_sessions_per_address, 0);
    assert_int_equal(c.eio.header_timeout_ms, 10000);
    assert_int_equal(c.eio.idle_timeout_ms, 0);
    assert_int_equal(c.eio.max_buffered, 0);
    assert_null(c.ipc_curve_secret);
    gw_config_free(&c);
}

static void test_limits(void **st)
{
    gw_config c;
    char err[256];
    const char *a[] = {"--max-depth",
                       "8",
                       "--max-connections",
                       "100",
                       "--max-sessions-per-address",
                       "3",
                       "--header-timeout",
                       "500",
                       "--idle-timeout",
                       "700",
                       "--max-buffered",
                       "65536",
                       "--max-header-bytes",
                       "1024",
                       "--max-url-bytes",
                       "512",
                       "--ipc-curve-secret",
                       "/etc/iogate/secret",
                       NULL};
    assert_int_equal(parse(&c, err, a), GW_CONFIG_OK);
    assert_int_equal(c.max_depth, 8);
    assert_int_equal(c.eio.max_connections, 100);
    assert_int_equal(c.eio.max_sessions_per_address, 3);
    assert_int_equal(c.eio.header_timeout_ms, 500);
    assert_int_equal(c.eio.idle_timeout_ms, 700);
    assert_int_equal(c.eio.max_buffered, 65536);
    assert_int_equal(c.eio.max_header_bytes, 1024);
    assert_int_equal(c.eio.max_url_bytes, 512);
    assert_string_equal(c.ipc_curve_secret, "/etc/iogate/secret");
    gw_config_free(&c);
    static const char *bad[][3] = {
        {"--max-depth", "0", NULL},
        {"--max-connections", "0", NULL},
        {"--max-buffered", "-1", NULL},
        {"--header-timeout", "0", NULL},
        {"--max-sessions-per-address", "x", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        assert_int_equal(parse(&c, err, bad[i]), GW_CONFIG_ERROR);
        assert_true(strlen(err) > 0);
        gw_config_free(&c);
    }
}

static void test_valid(void **st)
{
    gw_config c;
    char err[256];
    const char *a[] = {"--listen",
                       "0.0.0.0:8080",
                       "--path=/io",
                       "--ping-interval",
                       "300",
                       "--ping-timeout",
                       "200",
                       "--upgrade-timeout",
                       "1000",
                       "--max-payload",
                       "1000",
                       "--transports",
                       "websocket",
                       "--cors-origin",
                       "http://a",
                       "--cors-origin",
                       "http://b",
                       "--cors-credentials",
                       "--cookie",
                       "io",
                       "--static",
                       "/tmp/",
                       "--client-js",
                       "/x.js",
                       "--log-level",
                       "debug",
                       "--echo",
                       "--worker",
                       "/chat=node w.js --x=1",
                       "--worker",
                       "/=./w",
                       "--connect-timeout",
                       "5000",
                       "--ipc",
                       "ipc:///tmp/x",
                       "--max-attachments",
                       "3",
                       NULL};
    assert_int_equal(parse(&c, err, a), GW_CONFIG_OK);
    assert_string_equal(c.eio.host, "0.0.0.0");
    assert_int_equal(c.eio.port, 8080);
    assert_string_equal(c.eio.path, "/io/");
    assert_int_equal(c.eio.ping_interval_ms, 300);
    assert_int_equal(c.eio.ping_timeout_ms, 200);
    assert_int_equal(c.eio.upgrade_timeout_ms, 1000);
    assert_int_equal(c.eio.max_payload, 1000);
    assert_int_equal(c.eio.transports, EIO_TRANSPORT_WEBSOCKET);
    assert_string_equal(c.eio.cors_origins[0], "http://a");
    assert_string_equal(c.eio.cors_origins[1], "http://b");
    assert_null(c.eio.cors_origins[2]);
    assert_int_equal(c.eio.cors_credentials, 1);
    assert_string_equal(c.eio.cookie, "io");
    assert_string_equal(c.eio.static_dir, "/tmp");
    assert_string_equal(c.eio.client_js, "/x.js");
    assert_int_equal(c.log_level, GW_LOG_DEBUG);
    assert_int_equal(c.echo, 1);
    assert_int_equal(c.nworkers, 2);
    assert_string_equal(c.workers[0].nsp, "/chat");
    assert_string_equal(c.workers[0].cmd, "node w.js --x=1");
    assert_string_equal(c.workers[1].nsp, "/");
    assert_int_equal(c.connect_timeout_ms, 5000);
    assert_string_equal(c.ipc, "ipc:///tmp/x");
    assert_int_equal(c.max_attachments, 3);
    gw_config_free(&c);

    const char *b[] = {"--listen", "[::1]:99", NULL};
    assert_int_equal(parse(&c, err, b), GW_CONFIG_OK);
    assert_string_equal(c.eio.host, "::1");
    assert_int_equal(c.eio.port, 99);
    gw_config_free(&c);
}

static void test_invalid(void **st)
{
    static const char *cases[][5] = {
        {"--bogus", NULL},
        {"--listen", "nohost", NULL},
        {"--listen", "1.2.3.4:0", NULL},
        {"--listen", "1.2.3.4:70000", NULL},
        {"--listen", "1.2.3.4:12ab", NULL},
        {"--listen", NULL},
        {"--ping-interval", "-5", NULL},
        {"--ping-interval", "0", NULL},
        {"--ping-timeout", "abc", NULL},
        {"--max-payload", "0", NULL},
        {"--transports", "polling,carrier-pigeon", NULL},
        {"--transports", "", NULL},
        {"--log-level", "loud", NULL},
        {"--worker", "chat", NULL},
        {"--worker", "chat=cmd", NULL},
        {"--worker", "/chat=", NULL},
        {"--worker", "/a=x", "--worker", "/a=y", NULL}, /* one worker per namespace */
        {"--path", "x", NULL},
        {"--cookie", "a;b", NULL},
        {"--echo=maybe", NULL},
        {"positional", NULL},
        {"--config", "/nonexistent/iogate.conf", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        gw_config c;
        char err[256] = "";
        assert_int_equal(parse(&c, err, cases[i]), GW_CONFIG_ERROR);
        assert_true(strlen(err) > 0);
        gw_config_free(&c);
    }
}

static void test_help_version(void **st)
{
    gw_config c;
    char err[256];
    const char *h[] = {"--listen", "bad", "--help", NULL};
    assert_int_equal(parse(&c, err, h), GW_CONFIG_HELP);
    gw_config_free(&c);
    const char *v[] = {"--version", NULL};
    assert_int_equal(parse(&c, err, v), GW_CONFIG_VERSION);
    gw_config_free(&c);
    assert_non_null(strstr(gw_config_usage(), "--worker"));
}

static void test_config_file(void **st)
{
    char path[] = "/tmp/iogate-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "# comment\n"
                        "listen = 127.0.0.1:4000\n"
                        "ping-interval = 1234   # trailing comment\n"
                        "\n"
                        "cors-origin = http://file\n"
                        "echo\n"
                        "worker = /a=cmd a\n"
                        "max-payload=500\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    gw_config c;
    char err[256];
    const char *a[] = {"--config",   path, "--ping-interval", "99", "--cors-origin",
                       "http://cli", NULL};
    assert_int_equal(parse(&c, err, a), GW_CONFIG_OK);
    assert_int_equal(c.eio.port, 4000);
    assert_int_equal(c.eio.ping_interval_ms, 99); /* the command line wins */
    assert_int_equal(c.eio.max_payload, 500);
    assert_int_equal(c.echo, 1);
    assert_string_equal(c.eio.cors_origins[0], "http://cli"); /* list replaced */
    assert_null(c.eio.cors_origins[1]);
    assert_int_equal(c.nworkers, 1);
    assert_string_equal(c.workers[0].cmd, "cmd a");
    gw_config_free(&c);

    fd = open(path, O_WRONLY | O_TRUNC);
    const char bad[] = "listen = 1.2.3.4:3000\nping-timeout = soon\n";
    assert_int_equal(write(fd, bad, sizeof bad - 1), (ssize_t)(sizeof bad - 1));
    close(fd);
    const char *b[] = {"--config", path, NULL};
    assert_int_equal(parse(&c, err, b), GW_CONFIG_ERROR);
    assert_non_null(strstr(err, ":2:"));
    gw_config_free(&c);
    unlink(path);
}

/* Behind a web server: --trust-proxy (repeatable, file list replaced by
 * the command line), --fastcgi, --fastcgi-max-threads. */
static void test_web_server(void **st)
{
    gw_config c;
    char err[256];
    const char *a[] = {"--trust-proxy",
                       "127.0.0.1",
                       "--trust-proxy",
                       "10.0.0.0/8",
                       "--trust-proxy",
                       "loopback",
                       "--fastcgi",
                       "unix:/run/iogate/f.sock",
                       "--fastcgi-max-threads",
                       "2000",
                       NULL};
    assert_int_equal(parse(&c, err, a), GW_CONFIG_OK);
    assert_string_equal(c.eio.trust_proxies[0], "127.0.0.1");
    assert_string_equal(c.eio.trust_proxies[1], "10.0.0.0/8");
    assert_string_equal(c.eio.trust_proxies[2], "loopback");
    assert_null(c.eio.trust_proxies[3]);
    assert_string_equal(c.eio.fastcgi, "unix:/run/iogate/f.sock");
    assert_int_equal(c.eio.fastcgi_max_threads, 2000);
    gw_config_free(&c);

    const char *d[] = {NULL};
    assert_int_equal(parse(&c, err, d), GW_CONFIG_OK);
    assert_null(c.eio.trust_proxies);
    assert_null(c.eio.fastcgi);
    assert_int_equal(c.eio.fastcgi_max_threads, 4096);
    gw_config_free(&c);

    const char *tcp[] = {"--fastcgi", "127.0.0.1:9000", NULL};
    assert_int_equal(parse(&c, err, tcp), GW_CONFIG_OK);
    assert_string_equal(c.eio.fastcgi, "127.0.0.1:9000");
    gw_config_free(&c);

    static const char *bad[][3] = {
        {"--trust-proxy", "localhost", NULL}, {"--trust-proxy", "1.2.3.4/40", NULL},
        {"--fastcgi", "9000", NULL},          {"--fastcgi", "host:", NULL},
        {"--fastcgi", "unix:", NULL},         {"--fastcgi", "h:99999", NULL},
        {"--fastcgi-max-threads", "1", NULL}, {"--fastcgi-max-threads", "lots", NULL},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char e[256] = "";
        assert_int_equal(parse(&c, e, bad[i]), GW_CONFIG_ERROR);
        assert_true(strlen(e) > 0);
        gw_config_free(&c);
    }

    char path[] = "/tmp/iogate-test-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *txt =
        "trust-proxy = 192.0.2.1\ntrust-proxy = 192.0.2.2\nfastcgi = 127.0.0.1:9001\n";
    assert_int_equal(write(fd, txt, strlen(txt)), (int)strlen(txt));
    close(fd);
    const char *f1[] = {"--config", path, NULL};
    assert_int_equal(parse(&c, err, f1), GW_CONFIG_OK);
    assert_string_equal(c.eio.trust_proxies[1], "192.0.2.2");
    assert_string_equal(c.eio.fastcgi, "127.0.0.1:9001");
    gw_config_free(&c);
    const char *f2[] = {"--config", path, "--trust-proxy", "::1", NULL};
    assert_int_equal(parse(&c, err, f2), GW_CONFIG_OK);
    assert_string_equal(c.eio.trust_proxies[0], "::1"); /* list replaced */
    assert_null(c.eio.trust_proxies[1]);
    gw_config_free(&c);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),    cmocka_unit_test(test_valid),
        cmocka_unit_test(test_invalid),     cmocka_unit_test(test_help_version),
        cmocka_unit_test(test_config_file), cmocka_unit_test(test_web_server),
        cmocka_unit_test(test_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
