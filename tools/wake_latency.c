/* Wake-up latency probe: the round trip from this thread to a sleeping thread on the other CPU and
 * back (futex wake, futex wait), after a 200 us pause so the other thread has gone idle, as an IREE
 * task worker has between two calls. docs/benchmarks/layers.md uses it to explain why a ~0.1 ms layer
 * gains nothing from a second worker on this machine.
 *
 *     gcc -O2 -pthread tools/wake_latency.c -o /tmp/wake_latency && /tmp/wake_latency
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <sched.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <stdatomic.h>
static atomic_int flag = 0;
static void fwait(atomic_int *a, int v) { while (atomic_load(a) == v) syscall(SYS_futex, a, FUTEX_WAIT, v, 0, 0, 0); }
static void fwake(atomic_int *a) { syscall(SYS_futex, a, FUTEX_WAKE, 1, 0, 0, 0); }
static void pin(int c) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(c, &s); sched_setaffinity(0, sizeof s, &s); }
static void *worker(void *arg) { pin(1); for (int i = 0; i < 2000; i++) { fwait(&flag, 2*i); atomic_store(&flag, 2*i+2); fwake(&flag);} return 0; }
static double now() { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e6 + t.tv_nsec / 1e3; }
int main() {
  pin(0); pthread_t t; pthread_create(&t, 0, worker, 0);
  double total = 0; int n = 0;
  for (int i = 0; i < 2000; i++) {
    usleep(200);  /* let the worker go idle, as between two calls */
    double s = now(); atomic_store(&flag, 2*i+1); fwake(&flag); fwait(&flag, 2*i+1); double e = now();
    if (i > 100) { total += e - s; n++; }
  }
  pthread_join(t, 0); printf("round trip to a sleeping thread on the other vCPU: %.1f us (mean of %d)\n", total / n, n);
}
