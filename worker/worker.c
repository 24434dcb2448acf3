/*
 * worker.c - placeholder for the worker (consume, read, write, checkpoint).
 * It lands with the pgvector -> Milvus issue; the library exists now so the
 * build layout is final.
 */
#include "worker.h"

const char *vm_worker_component(void) { return "worker"; }
