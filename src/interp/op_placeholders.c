/* TEMPORARY: empty tables for the operator families written on another
 * branch, so this branch links on its own.  Delete when those land. */
#include "interp/op.h"

const lrsc_op_def lrsc_ops_elementwise[] = {{NULL, 0, 0, NULL, NULL, NULL, NULL}};
const lrsc_op_def lrsc_ops_shape[] = {{NULL, 0, 0, NULL, NULL, NULL, NULL}};
const lrsc_op_def lrsc_ops_reduce[] = {{NULL, 0, 0, NULL, NULL, NULL, NULL}};
const lrsc_op_def lrsc_ops_resize[] = {{NULL, 0, 0, NULL, NULL, NULL, NULL}};
