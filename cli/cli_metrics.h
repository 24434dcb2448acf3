/*
 * cli_metrics.h - the --metrics / --metrics-linger options of the commands
 * that run a job (migrate, resume, worker, coordinator start): one
 * registry and one /metrics server per process, from the flag or the job
 * file's metrics.listen.
 */
#ifndef VM_CLI_METRICS_H
#define VM_CLI_METRICS_H

#include "api.h"
#include "vm_config.h"
#include "vm_httpd.h"
#include "vm_metrics.h"

typedef struct vm_cli_metrics_args {
    const char *addr; /* --metrics ADDR; NULL: the job file's metrics.listen */
    long linger_s;    /* --metrics-linger SECONDS */
    const char *http; /* --http ADDR (not for workers); NULL: the job file's http.listen */
} vm_cli_metrics_args;

typedef struct vm_cli_metrics {
    vm_metrics *reg;  /* NULL when metrics are off */
    vm_httpd *srv;
    vm_api *api;      /* the coordinator's HTTP API and Jobs page; NULL when off */
    long linger_s;
} vm_cli_metrics;

/* Consume --metrics ADDR, --metrics-linger SECONDS or (not for "worker")
 * --http ADDR at argv[*i] (moving
 * *i past the value). 1 consumed, 0 not ours, -1 bad value (printed). */
int vm_cli_metrics_arg(const char *cmd, int argc, char **argv, int *i, vm_cli_metrics_args *a);

/* Start the registry and the server when an address is given (flag first,
 * then metrics.listen), and the HTTP API (--http, then http.listen; the
 * token from http.token, else VECMIG_API_TOKEN). 0, or the exit code after printing the error (2 for
 * an address that does not parse, 1 when it cannot be bound). */
int vm_cli_metrics_start(const char *cmd, const vm_job_conf *job, const vm_cli_metrics_args *a,
                         vm_cli_metrics *out);

/* Keep serving for linger_s seconds (ended early by SIGINT/SIGTERM), then
 * stop the server and free the registry. Safe on a zeroed struct. */
void vm_cli_metrics_stop(vm_cli_metrics *cm);

#endif
