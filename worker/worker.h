/*
 * worker.h - the worker's entry points (to come).
 */
#ifndef VM_WORKER_H
#define VM_WORKER_H
const char *vm_worker_component(void);
#endif
