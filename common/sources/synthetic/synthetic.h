/*
 * synthetic.h - the synthetic source's generator, for tests that recompute
 * what they expect to find in the target.
 */
#ifndef VM_SYNTHETIC_H
#define VM_SYNTHETIC_H
#include <stdint.h>
float vm_synthetic_component(int64_t seed, int64_t k, int64_t j);
#endif
