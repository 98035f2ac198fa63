/*
 * inflate-alone: times libdeflate's zlib inflate on its own, the ceiling of any decode that
 * inflates with it. Reads a zlib stream from stdin, inflates it `runs` times into one buffer
 * of `size` bytes (faulted in first, as the decode benchmarks' output buffers are) and prints
 * the median wall and CPU seconds. Built and run by bench/codec.bench.mjs.
 *
 *   inflate-alone SIZE RUNS < stream.zlib
 */
#include <libdeflate.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(clockid_t clock) {
  struct timespec t;
  clock_gettime(clock, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int by_value(const void* a, const void* b) {
  const double x = *(const double*)a, y = *(const double*)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: inflate-alone SIZE RUNS < stream.zlib\n");
    return 2;
  }
  const size_t size = strtoull(argv[1], NULL, 10);
  const int runs = atoi(argv[2]);
  size_t cap = 1 << 20, have = 0;
  unsigned char* in = malloc(cap);
  for (size_t n; in != NULL && (n = fread(in + have, 1, cap - have, stdin)) > 0;) {
    have += n;
    if (have == cap) in = realloc(in, cap *= 2);
  }
  unsigned char* out = malloc(size ? size : 1);
  double* wall = malloc(sizeof(double) * (runs > 0 ? runs : 1));
  double* cpu = malloc(sizeof(double) * (runs > 0 ? runs : 1));
  struct libdeflate_decompressor* d = libdeflate_alloc_decompressor();
  if (in == NULL || out == NULL || wall == NULL || cpu == NULL || d == NULL || runs < 1) {
    fprintf(stderr, "inflate-alone: out of memory or bad arguments\n");
    return 1;
  }
  memset(out, 0, size);
  size_t produced = 0;
  for (int i = -1; i < runs; i++) { /* run -1 warms the caches */
    const double w0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
    if (libdeflate_zlib_decompress(d, in, have, out, size, &produced) != LIBDEFLATE_SUCCESS || produced != size) {
      fprintf(stderr, "inflate-alone: the stream does not inflate to %zu bytes\n", size);
      return 1;
    }
    if (i >= 0) {
      cpu[i] = now(CLOCK_PROCESS_CPUTIME_ID) - c0;
      wall[i] = now(CLOCK_MONOTONIC) - w0;
    }
  }
  qsort(wall, runs, sizeof(double), by_value);
  qsort(cpu, runs, sizeof(double), by_value);
  printf("%.9f %.9f\n", wall[runs / 2], cpu[runs / 2]);
  libdeflate_free_decompressor(d);
  free(cpu);
  free(wall);
  free(out);
  free(in);
  return 0;
}
