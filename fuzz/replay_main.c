/* replay_main.c — run a libFuzzer driver without libFuzzer.
 *
 * Linked with any fuzz/fuzz_*.c built with -DFUZZ_REPLAY against the
 * ordinary build/libiogate.a.  Each argument is a file or a directory (its
 * regular files, in name order, dot files skipped).  Every input is passed
 * to LLVMFuzzerTestOneInput() once and reported as one TAP line, so
 * tests/run.sh counts corpus and regression inputs as tests.  A crash ends
 * the process: the inputs not reported are the ones that failed. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int n_run;

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        printf("not ok %d - %s (cannot open)\n", ++n_run, path);
        return -1;
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + len, 1, cap - len, f)) > 0) {
        len += got;
        if (len == cap) buf = realloc(buf, cap *= 2);
    }
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "out of memory reading %s\n", path);
        abort();
    }
    /* Hand over an exact-size copy so ASan sees any overread. */
    uint8_t *exact = malloc(len ? len : 1);
    if (len) memcpy(exact, buf, len);
    free(buf);
    printf("# %s\n", path);
    fflush(stdout);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    printf("ok %d - %s\n", ++n_run, path);
    fflush(stdout);
    return 0;
}

static int run_path(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        printf("not ok %d - %s (missing)\n", ++n_run, path);
        return -1;
    }
    if (!S_ISDIR(sb.st_mode)) return run_file(path);
    struct dirent **ents;
    int n = scandir(path, &ents, NULL, alphasort);
    if (n < 0) return -1;
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (ents[i]->d_name[0] != '.') {
            char full[4096];
            snprintf(full, sizeof full, "%s/%s", path, ents[i]->d_name);
            struct stat fs;
            if (stat(full, &fs) == 0 && S_ISREG(fs.st_mode) && run_file(full) < 0) rc = -1;
        }
        free(ents[i]);
    }
    free(ents);
    return rc;
}

int main(int argc, char **argv)
{
    int rc = 0;
    for (int i = 1; i < argc; i++)
        if (run_path(argv[i]) < 0) rc = 1;
    printf("1..%d\n", n_run);
    return rc;
}
