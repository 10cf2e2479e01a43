/*
 * The JSON report of a cyclecast QEMU plugin, written atomically: to OUT.tmp.PID, flushed
 * and synced, then renamed to OUT, so a crash never leaves half a file. Shared by
 * cachesim.c and profile.c (header-only; each plugin is one shared object).
 */
#ifndef CYCLECAST_REPORT_H
#define CYCLECAST_REPORT_H

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *report_tmp_name(const char *out_path)
{
    size_t len = strlen(out_path) + 32;
    char *t = malloc(len);

    if (t) {
        snprintf(t, len, "%s.tmp.%ld", out_path, (long)getpid());
    }
    return t;
}

/* At install: fail now rather than after a long run if OUT cannot be written. */
static bool report_probe(const char *tag, const char *out_path)
{
    char *tmp = report_tmp_name(out_path);
    FILE *f = tmp ? fopen(tmp, "w") : NULL;

    if (!f) {
        fprintf(stderr, "%s: cannot create %s: %s\n", tag, tmp ? tmp : out_path,
                strerror(errno));
        free(tmp);
        return false;
    }
    fclose(f);
    unlink(tmp);
    free(tmp);
    return true;
}

/*
 * At exit: write_json(f) writes the report and says whether it succeeded. Without OUT
 * the report goes to stderr; a forked guest child (pid != owner) writes nothing.
 */
static void report_write(const char *tag, const char *out_path, pid_t owner,
                         bool (*write_json)(FILE *))
{
    char *tmp;
    FILE *f;
    bool ok;

    if (!out_path) {
        write_json(stderr);
        fflush(stderr);
        return;
    }
    if (getpid() != owner) {
        return;
    }
    tmp = report_tmp_name(out_path);
    f = tmp ? fopen(tmp, "w") : NULL;
    if (!f) {
        fprintf(stderr, "%s: cannot write %s: %s\n", tag, tmp ? tmp : out_path,
                strerror(errno));
        free(tmp);
        return;
    }
    ok = write_json(f);
    ok = (fflush(f) == 0) && ok;
    ok = (fsync(fileno(f)) == 0) && ok;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, out_path) != 0) {
        fprintf(stderr, "%s: cannot write %s: %s\n", tag, out_path, strerror(errno));
        unlink(tmp);
    }
    free(tmp);
}

#endif
