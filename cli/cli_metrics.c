/*
 * cli_metrics.c - start and stop the process's /metrics endpoint for the
 * commands that run a job (see cli_metrics.h).
 *
 * --metrics-linger exists for scrapes after the run: a short `vecmig
 * migrate` would otherwise exit before Prometheus (or a test) reads its
 * final counters.
 */
#include "cli_metrics.h"
#include "vm_log.h"
#include "worker.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int vm_cli_metrics_arg(const char *cmd, int argc, char **argv, int *i, vm_cli_metrics_args *a)
{
    if (strcmp(argv[*i], "--metrics") == 0 && *i + 1 < argc) {
        a->addr = argv[++*i];
        char host[256];
        int port;
        vm_err e;
        if (vm_httpd_parse_listen(a->addr, host, sizeof host, &port, &e) != VM_OK) {
            fprintf(stderr, "vecmig %s: --metrics: %s\n", cmd, e.msg);
            return -1;
        }
        return 1;
    }
    if (strcmp(argv[*i], "--http") == 0 && *i + 1 < argc && strcmp(cmd, "worker") != 0) {
        a->http = argv[++*i];
        char host[256];
        int port;
        vm_err e;
        if (vm_httpd_parse_listen(a->http, host, sizeof host, &port, &e) != VM_OK) {
            fprintf(stderr, "vecmig %s: --http: %s\n", cmd, e.msg);
            return -1;
        }
        return 1;
    }
    if (strcmp(argv[*i], "--metrics-linger") == 0 && *i + 1 < argc) {
        char *end;
        const char *v = argv[++*i];
        a->linger_s = strtol(v, &end, 10);
        if (!*v || *end || a->linger_s < 0 || a->linger_s > 86400) {
            fprintf(stderr, "vecmig %s: --metrics-linger: expected seconds 0..86400, got '%s'\n",
                    cmd, v);
            return -1;
        }
        return 1;
    }
    return 0;
}

int vm_cli_metrics_start(const char *cmd, const vm_job_conf *job, const vm_cli_metrics_args *a,
                         vm_cli_metrics *out)
{
    memset(out, 0, sizeof *out);
    vm_err e;
    const char *haddr = a && a->http ? a->http : job->http.listen;
    if (haddr) {
        const char *tok = job->http.token ? job->http.token : getenv("VECMIG_API_TOKEN");
        vm_api_opts ao = {.listen = haddr, .token = tok, .state = &job->state,
                          .served_job = job->job.id};
        if (vm_api_start(&ao, &out->api, &e) != VM_OK) {
            fprintf(stderr, "vecmig %s: %s%s\n", cmd, a && a->http ? "--http: " : "", e.msg);
            return e.code == VM_ERR_INVALID ? 2 : 1;
        }
    }
    out->linger_s = a ? a->linger_s : 0;
    const char *addr = a && a->addr ? a->addr : job->metrics.listen;
    if (!addr)
        return 0;
    int rc = vm_metrics_new_vecmig(&out->reg, &e);
    if (rc == VM_OK)
        rc = vm_metrics_serve(out->reg, addr, &out->srv, &e);
    if (rc != VM_OK) {
        fprintf(stderr, "vecmig %s: %s\n", cmd, e.msg);
        vm_metrics_free(out->reg);
        out->reg = NULL;
        vm_api_free(out->api);
        out->api = NULL;
        return rc == VM_ERR_INVALID ? 2 : 1;
    }
    return 0;
}

void vm_cli_metrics_stop(vm_cli_metrics *cm)
{
    if ((cm->srv || cm->api) && cm->linger_s > 0 && !vm_worker_stopping()) {
        vm_worker_install_signals(); /* SIGINT / SIGTERM end the wait */
        vm_info("metrics: run over; serving %s for %ld more seconds",
                cm->srv ? "/metrics" : "the HTTP API", cm->linger_s);
        for (long t = 0; t < cm->linger_s * 10 && !vm_worker_stopping(); t++)
            vm_sleep_ms(100);
    }
    vm_httpd_free(cm->srv);
    vm_api_free(cm->api);
    vm_metrics_free(cm->reg);
    memset(cm, 0, sizeof *cm);
}
