/* sdk/sdk_robust.h -- the robust statistics that the SDK's analyses share (sdk_anomaly.c,
 * sdk_changepoint.c): selection and medians in linear time, without sorting. Not API: nothing
 * outside sdk/ includes it. */
#ifndef INQUEST_SDK_ROBUST_H
#define INQUEST_SDK_ROBUST_H

#include <stddef.h>

#define SDK__MAD_SIGMA 1.4826 /* MAD to standard deviation, for normal data */

/* Reorders the 'n' (> 'k') values at 'a' so that a[k] is the value a sort would put there,
 * those before it are not larger and those after not smaller. Expected O(n). */
void sdk__select(double *a, size_t n, size_t k);

/* The median of the 'n' (> 0) values at 'a', which it reorders. */
double sdk__median(double *a, size_t n);

/* Sorts the 'n' values at 'a' in increasing order (no NaN among them). */
void sdk__sort(double *a, size_t n);

#endif
