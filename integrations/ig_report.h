/* integrations/ig_report.h -- results rendered for people: a terminal report and Markdown.
 * The result itself (inquest.result/v1) is described in docs/sdk.md. */
#ifndef INQUEST_IG_REPORT_H
#define INQUEST_IG_REPORT_H

#include <stdio.h>
#include <jansson.h>

/* Writes a readable report of 'result' to 'out'; ANSI colour only when 'colour' is set. */
void ig_report_text(const json_t *result, FILE *out, int colour);
/* Writes 'result' as Markdown (for incident notes, pull requests, chat). */
void ig_report_markdown(const json_t *result, FILE *out);

#endif
