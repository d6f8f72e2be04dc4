/* Elapsed time for progress rates and summaries (monotonic: never jumps with the wall clock). */
#ifndef MODL_CLOCK_H
#define MODL_CLOCK_H

double clock_seconds(void);

#endif
