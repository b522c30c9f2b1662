/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/* The record layout lives beside the C core that reads it (internal/core/layout.h),
 * inside the Go package that compiles it: vendoring and Go's build cache see it. */
#include "../internal/core/layout.h"
