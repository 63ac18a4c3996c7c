/* sdk/sdk_summary.h -- short plain-language summaries of a result, its findings, or a result of
 * the toolkit (dimensions, correlation, events), made by deterministic templates that cite the
 * evidence they rest on (inquest.summary, docs/sdk.md "Summary"). No model: the same input
 * always gives the same words. */
#ifndef INQUEST_SDK_SUMMARY_H
#define INQUEST_SDK_SUMMARY_H

#include <lua.h>

#define SDK_SUMMARY_MAX 4000 /* bytes of a summary, at most: what a finding's summary holds */

/* Pushes the summary of the value at 'idx': a result (a table with status, conclusion and
 * findings, as ctx:call returns), a finding, a list of findings, a result of
 * inquest.dimensions, inquest.correlate or inquest.events, or an evidence item. Raises for
 * anything else. */
void sdk_summary_push(lua_State *L, int idx);

/* A lua_CFunction: inquest.summary(value) returns sdk_summary_push's text. */
int sdk_summary(lua_State *L);

#endif
