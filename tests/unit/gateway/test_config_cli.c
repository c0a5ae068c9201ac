/* test_config_cli.c — the command-line details a user meets first (issue
 * 14): -h / -v, a bare unknown option, config lines without '=', and the
 * FastCGI socket's --fastcgi-socket-mode / --fastcgi-socket-owner. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static int parse(gw_config *c, char *err, const char **args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "iogate";
    for (; *args && argc < 31; args++)
        argv[argc++] = (char *)*args;
    argv[argc] = NULL;
    gw_config_init(c);
    err[0] = '\0';
    return gw_config_parse(c, argc, argv, err, 256);
}

static void test_short_flags(void **st)
{
    gw_config c;
    char err[256];
    const char *h[] = {"-h", NULL}, *v[] = {"--echo", "-v", NULL}, *x[] = {"-x", NULL};
    assert_int_equal(parse(&c, err, h), GW_CONFIG_HELP);
    gw_config_free(&c);
    assert_int_equal(parse(&c, err, v), GW_CONFIG_VERSION);
    gw_config_free(&c);
    assert_int_equal(parse(&c, err, x), GW_CONFIG_ERROR);
    assert_string_equal(err, "unexpected argument '-x'");
    gw_config_free(&c);
    assert_non_null(strstr(gw_config_usage(), "-h, --help"));
}

static void test_unknown_bare(void **st)
{
    gw_config c;
    char err[256];
    const char *last[] = {"--echo", "--bogus", NULL}, *first[] = {"--bogus", "--echo", NULL};
    const char *prefix[] = {"--liste", NULL}, *known[] = {"--listen", NULL};
    assert_int_equal(parse(&c, err, last), GW_CONFIG_ERROR);
    assert_string_equal(err, "unknown option --bogus");
    gw_config_free(&c);
    assert_int_equal(parse(&c, err, first), GW_CONFIG_ERROR);
    assert_string_equal(err, "unknown option --bogus");
    gw_config_free(&c);
    assert_int_equal(parse(&c, err, prefix), GW_CONFIG_ERROR); /* a prefix of a name is not it */
    assert_string_equal(err, "unknown option --liste");
    gw_config_free(&c);
    assert_int_equal(parse(&c, err, known), GW_CONFIG_ERROR);
    assert_string_equal(err, "--listen needs a value");
    gw_config_free(&c);
}

static void test_config_line_without_eq(void **st)
{
    char path[] = "/tmp/iogate-cfgcli-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char text[] = "# comment\necho\n\nping-interval 100\n";
    assert_int_equal(write(fd, text, sizeof text - 1), (ssize_t)(sizeof text - 1));
    close(fd);
    gw_config c;
    char err[256], want[256];
    gw_config_init(&c);
    assert_int_equal(gw_config_load(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want,
             "%s:4: 'ping-interval 100' has no '=' (lines are 'key = value'; and it is not a known "
             "option either)",
             path);
    assert_string_equal(err, want);
    gw_config_free(&c);
    FILE *f = fopen(path, "w");
    fputs("listen\n", f);
    fclose(f);
    gw_config_init(&c);
    assert_int_equal(gw_config_load(&c, path, err, sizeof err), -1);
    snprintf(want, sizeof want, "%s:1: 'listen' has no '=' (lines are 'key = value')", path);
    assert_string_equal(err, want);
    gw_config_free(&c);
    unlink(path);
}

static void test_fastcgi_socket_options(void **st)
{
    gw_config c;
    char err[256];
    const char *none[] = {NULL};
    assert_int_equal(parse(&c, err, none), GW_CONFIG_OK);
    assert_int_equal(c.eio.fastcgi_socket_mode, 0);
    assert_int_equal(c.eio.fastcgi_socket_uid, -1);
    assert_int_equal(c.eio.fastcgi_socket_gid, -1);
    gw_config_free(&c);
    const char *ok[] = {"--fastcgi-socket-mode", "0660", "--fastcgi-socket-owner", "0:0", NULL};
    assert_int_equal(parse(&c, err, ok), GW_CONFIG_OK);
    assert_int_equal(c.eio.fastcgi_socket_mode, 0660 | GW_FCGI_MODE_SET);
    assert_int_equal(c.eio.fastcgi_socket_uid, 0);
    assert_int_equal(c.eio.fastcgi_socket_gid, 0);
    gw_config_free(&c);
    const char *grp[] = {"--fastcgi-socket-owner", ":0", "--fastcgi-socket-mode", "0", NULL};
    assert_int_equal(parse(&c, err, grp), GW_CONFIG_OK);
    assert_int_equal(c.eio.fastcgi_socket_uid, -1); /* user unchanged */
    assert_int_equal(c.eio.fastcgi_socket_gid, 0);
    assert_int_equal(c.eio.fastcgi_socket_mode, GW_FCGI_MODE_SET); /* 0000 is a mode too */
    gw_config_free(&c);
    const char *bad[][3] = {{"--fastcgi-socket-mode", "0999", NULL},
                            {"--fastcgi-socket-mode", "", NULL},
                            {"--fastcgi-socket-mode", "010000", NULL},
                            {"--fastcgi-socket-owner", ":", NULL},
                            {"--fastcgi-socket-owner", "no-such-user-iogate", NULL},
                            {"--fastcgi-socket-owner", ":no-such-group-iogate", NULL}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(&c, err, bad[i]), GW_CONFIG_ERROR);
        assert_non_null(strstr(err, "--fastcgi-socket-"));
        gw_config_free(&c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_short_flags),
        cmocka_unit_test(test_unknown_bare),
        cmocka_unit_test(test_config_line_without_eq),
        cmocka_unit_test(test_fastcgi_socket_options),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
