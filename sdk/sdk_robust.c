/* sdk/sdk_robust.c -- selection and medians for the SDK's analyses (sdk_robust.h). */
#include <stdlib.h>
#include "sdk_robust.h"

static void swap(double *a, ptrdiff_t i, ptrdiff_t j) {
    double x = a[i];
    a[i] = a[j];
    a[j] = x;
}

/* Hoare's selection with median-of-three pivots: after ordering a[lo] <= pivot <= a[hi] both
 * scans stop inside the range, so they need no bounds checks. */
void sdk__select(double *a, size_t n, size_t k) {
    ptrdiff_t lo = 0, hi = (ptrdiff_t)n - 1, want = (ptrdiff_t)k;
    while (hi > lo) {
        ptrdiff_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
        if (a[mid] < a[lo])
            swap(a, mid, lo);
        if (a[hi] < a[lo])
            swap(a, hi, lo);
        if (a[hi] < a[mid])
            swap(a, hi, mid);
        double pivot = a[mid];
        while (i <= j) {
            while (a[i] < pivot)
                i++;
            while (a[j] > pivot)
                j--;
            if (i <= j)
                swap(a, i++, j--);
        }
        if (want <= j)
            hi = j;
        else if (want >= i)
            lo = i;
        else
            return; /* between the scans every value equals the pivot */
    }
}

double sdk__median(double *a, size_t n) {
    sdk__select(a, n, n / 2);
    double upper = a[n / 2];
    if (n % 2)
        return upper;
    double lower = a[0]; /* the largest of the lower half, which selection left before it */
    for (size_t i = 1; i < n / 2; i++)
        lower = a[i] > lower ? a[i] : lower;
    return (lower + upper) / 2;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

void sdk__sort(double *a, size_t n) {
    qsort(a, n, sizeof *a, cmp_double);
}
