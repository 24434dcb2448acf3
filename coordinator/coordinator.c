/*
 * coordinator.c - placeholder for the coordinator (plan, publish, reconcile).
 * It lands with the pgvector -> Milvus issue; the library exists now so the
 * build layout is final.
 */
#include "coordinator.h"

const char *vm_coordinator_component(void) { return "coordinator"; }
