/*
 * api.h - the coordinator's HTTP API (/api/jobs...) and the Jobs page (GET
 * /, /jobs/{id} and its assets, compiled into the binary from
 * coordinator/web/), served by vm_httpd.
 *
 * Routes (JSON; errors are {"error": "..."}):
 *   GET  /api/jobs                  {"jobs": [job, ...]}
 *   GET  /api/jobs/{id}             job
 *   GET  /api/jobs/{id}/tasks       {"job": id, "tasks": [task, ...]}
 *   GET  /api/jobs/{id}/report      the stored report (404 until there is one)
 *   POST /api/jobs/{id}/cancel      202 {"id", "state", "cancel_requested", "applied"}
 *                                   409 when the job is done, failed or cancelled
 *   POST /api/jobs/{id}/resume      200 {"id", "state", "previous_state", "tasks_reset",
 *                                   "continues", "message"}; 409 for a done job
 * With a token configured every /api route needs `Authorization: Bearer
 * TOKEN` (401 otherwise); without one the server only binds to loopback.
 *
 * Handlers run on the server's threads; they share one state-store
 * connection of their own, used under a mutex.
 */
#ifndef VM_API_H
#define VM_API_H

#include <stdbool.h>

#include "vm_config.h"
#include "vm_err.h"

typedef struct vm_api vm_api;

typedef struct vm_api_opts {
    const char *listen;                /* host:port; port 0: any free one */
    const char *token;                 /* NULL or "": none (loopback only) */
    const vm_job_state_conf *state;    /* the store the jobs live in */
    const char *served_job;            /* the job this process coordinates, or NULL */
} vm_api_opts;

/* Open the store, check the address (VM_ERR_INVALID, naming it, for a
 * non-loopback address without a token), bind and serve. */
int vm_api_start(const vm_api_opts *o, vm_api **out, vm_err *err);
/* The bound port. */
int vm_api_port(const vm_api *a);
/* Whether this process is running the served job's coordinator now (a
 * resume through the API then continues in this process). */
void vm_api_set_active(vm_api *a, bool active);
/* Stop serving, close the store. NULL is fine. */
void vm_api_free(vm_api *a);

/* Whether host (as in a listen address) is a loopback address. */
bool vm_api_host_is_loopback(const char *host);

/* The compiled-in assets (web_assets.c, generated). path: "/index.html",
 * "/app.js", ... NULL when unknown. */
typedef struct vm_web_asset {
    const char *path;
    const char *content_type;
    const unsigned char *data;
    size_t len;
} vm_web_asset;
const vm_web_asset *vm_web_asset_find(const char *path);

#endif
