/*
 * report.h - reconciliation and the migration report.
 *
 * At the end of a job the coordinator counts the source again, sums what
 * every task read and wrote (from the state store), counts the target
 * exactly (count(*), after making the collection queryable if it is not),
 * and decides:
 *   ok              source at start = source at end = rows read = rows
 *                   written = target rows (minus what an appended-to
 *                   collection held before, when that was known)
 *   source_changed  the source's count moved during the run: reported as
 *                   such, not as loss; the other counts are still shown
 *   mismatch        counts disagree although the source did not change
 *   failed          tasks failed for good or the run could not finish
 * Only `ok` makes the coordinator exit 0.
 */
#ifndef VM_REPORT_H
#define VM_REPORT_H

#include <stdio.h>

#include <jansson.h>

#include "vm_config.h"
#include "vm_connector.h"
#include "vm_state.h"

typedef enum vm_verdict {
    VM_VERDICT_OK = 0,
    VM_VERDICT_SOURCE_CHANGED,
    VM_VERDICT_MISMATCH,
    VM_VERDICT_FAILED,
} vm_verdict;

typedef struct vm_report {
    vm_verdict verdict;
    json_t *doc; /* the whole report */
} vm_report;

const char *vm_verdict_name(vm_verdict v);

int vm_report_build(const vm_job_conf *job, vm_source *src, vm_sink *sink, vm_state *state,
                    const vm_schema *target, const json_t *record, vm_report *out, vm_err *err);
int vm_report_write(const vm_report *r, const char *path, vm_err *err);
void vm_report_print(const vm_report *r, FILE *f);
void vm_report_release(vm_report *r);

#endif
