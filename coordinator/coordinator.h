/*
 * coordinator.h - the coordinator's entry points (to come).
 */
#ifndef VM_COORDINATOR_H
#define VM_COORDINATOR_H
const char *vm_coordinator_component(void);
#endif
