/* fluidml-aot-run: runs and times a model compiled ahead of time (`fluidml compile MODEL -o DIR`).
 *
 *   fluidml-aot-run DIR [--threads N] [--iters K] [--warmup W] [--inputs FILE] [--outputs FILE] [--json]
 *
 * Loads DIR/libmodel.so with dlopen (so one binary serves every model; it links no fluidml library), resolves
 * the C API of core/runtime/model_api.h with dlsym, creates the model on DIR/weights.bin, reads the inputs (raw
 * bytes of every graph input concatenated in graph order) or makes deterministic ones (float: an LCG in [-1, 1);
 * integer and bool: zeros, which are valid token ids and masks), runs W warm-up and K timed runs, and writes the
 * outputs raw and concatenated in graph order (atomically: a temporary file renamed into place).
 * Prints a short summary, or with --json one JSON object on one line. Errors: "fluidml-aot-run: error: ..." on
 * stderr, exit 2, and no output file. */
#define _XOPEN_SOURCE 700

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum { kExitOk = 0, kExitError = 2 };
enum { kDtypeFloat32 = 0, kDtypeFloat64 = 1 }; /* enum fluidml_dtype */

/* The C API of libmodel.so, resolved with dlsym. */
typedef struct {
  void *(*create)(const char *weights_path, int threads);
  int (*run)(void *model, const void *const *inputs, void *const *outputs);
  void (*destroy)(void *model);
  const char *(*last_error)(void);
  int (*num_inputs)(void);
  int (*num_outputs)(void);
  const char *(*input_name)(int index);
  const char *(*output_name)(int index);
  int (*input_dtype)(int index);
  int (*output_dtype)(int index);
  int (*input_rank)(int index);
  int (*output_rank)(int index);
  const int64_t *(*input_dims)(int index);
  const int64_t *(*output_dims)(int index);
  size_t (*input_bytes)(int index);
  size_t (*output_bytes)(int index);
  size_t (*arena_bytes)(void);
  size_t (*weights_bytes)(void);
} ModelApi;

typedef struct {
  const char *dir;
  int threads;
  int iters;
  int warmup;
  const char *inputs;
  const char *outputs;
  int json;
} Options;

static void fail(const char *format, ...) {
  va_list args;
  va_start(args, format);
  fputs("fluidml-aot-run: error: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
}

static void usage(FILE *out) {
  fputs("usage: fluidml-aot-run DIR [--threads N] [--iters K] [--warmup W] [--inputs FILE] [--outputs FILE] "
        "[--json]\n"
        "  DIR          a directory written by `fluidml compile MODEL -o DIR` (libmodel.so, weights.bin)\n"
        "  --threads N  thread pool size (default 0: the thread count the model was compiled with)\n"
        "  --iters K    timed runs (default 10)\n"
        "  --warmup W   untimed runs before them (default 2)\n"
        "  --inputs F   raw input bytes, every graph input in graph order (default: deterministic values)\n"
        "  --outputs F  writes the outputs' raw bytes, concatenated in graph order\n"
        "  --json       prints one JSON object instead of the summary\n",
        out);
}

/* A non-negative decimal int in [min, max]; 0 on success. */
static int parseCount(const char *flag, const char *text, int min, int max, int *value) {
  char *end = NULL;
  errno = 0;
  long number = strtol(text, &end, 10);
  if (text[0] == '\0' || *end != '\0' || errno != 0 || number < min || number > max) {
    fail("%s expects an integer in [%d, %d], got '%s'", flag, min, max, text);
    return -1;
  }
  *value = (int)number;
  return 0;
}

static int parseOptions(int argc, char **argv, Options *options) {
  memset(options, 0, sizeof *options);
  options->iters = 10;
  options->warmup = 2;
  for (int i = 1; i < argc; ++i) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      usage(stdout);
      exit(kExitOk);
    } else if (strcmp(arg, "--json") == 0) {
      options->json = 1;
    } else if (strcmp(arg, "--threads") == 0 || strcmp(arg, "--iters") == 0 || strcmp(arg, "--warmup") == 0 ||
               strcmp(arg, "--inputs") == 0 || strcmp(arg, "--outputs") == 0) {
      if (i + 1 >= argc) {
        fail("%s expects a value", arg);
        return -1;
      }
      const char *value = argv[++i];
      int status = 0;
      if (strcmp(arg, "--threads") == 0) status = parseCount(arg, value, 0, 1024, &options->threads);
      else if (strcmp(arg, "--iters") == 0) status = parseCount(arg, value, 1, 100000000, &options->iters);
      else if (strcmp(arg, "--warmup") == 0) status = parseCount(arg, value, 0, 100000000, &options->warmup);
      else if (strcmp(arg, "--inputs") == 0) options->inputs = value;
      else options->outputs = value;
      if (status != 0) return -1;
      if (value[0] == '\0') {
        fail("%s expects a non-empty value", arg);
        return -1;
      }
    } else if (arg[0] == '-' && arg[1] != '\0') {
      fail("unknown option '%s' (see --help)", arg);
      return -1;
    } else if (options->dir == NULL) {
      options->dir = arg;
    } else {
      fail("unexpected argument '%s': one DIR only", arg);
      return -1;
    }
  }
  if (options->dir == NULL) {
    fail("missing DIR (see --help)");
    return -1;
  }
  return 0;
}

/* dir + "/" + name in a fresh allocation (NULL when out of memory). */
static char *joinPath(const char *dir, const char *name) {
  size_t dirLength = strlen(dir), nameLength = strlen(name);
  char *path = malloc(dirLength + nameLength + 2);
  if (path == NULL) return NULL;
  memcpy(path, dir, dirLength);
  path[dirLength] = '/';
  memcpy(path + dirLength + 1, name, nameLength + 1);
  return path;
}

/* POSIX guarantees that a dlsym result converts to a function pointer; the copy keeps ISO C quiet about it. */
static int resolve(void *library, const char *symbol, void *slot, size_t slotSize) {
  dlerror();
  void *address = dlsym(library, symbol);
  if (address == NULL) {
    const char *why = dlerror();
    fail("libmodel.so lacks %s (%s): not a library written by `fluidml compile`?", symbol, why ? why : "NULL");
    return -1;
  }
  memcpy(slot, &address, slotSize);
  return 0;
}

static int loadApi(void *library, ModelApi *api) {
#define FLUIDML_RESOLVE(field, name) \
  if (resolve(library, "fluidml_model_" name, &api->field, sizeof api->field) != 0) return -1
  FLUIDML_RESOLVE(create, "create");
  FLUIDML_RESOLVE(run, "run");
  FLUIDML_RESOLVE(destroy, "destroy");
  FLUIDML_RESOLVE(last_error, "last_error");
  FLUIDML_RESOLVE(num_inputs, "num_inputs");
  FLUIDML_RESOLVE(num_outputs, "num_outputs");
  FLUIDML_RESOLVE(input_name, "input_name");
  FLUIDML_RESOLVE(output_name, "output_name");
  FLUIDML_RESOLVE(input_dtype, "input_dtype");
  FLUIDML_RESOLVE(output_dtype, "output_dtype");
  FLUIDML_RESOLVE(input_rank, "input_rank");
  FLUIDML_RESOLVE(output_rank, "output_rank");
  FLUIDML_RESOLVE(input_dims, "input_dims");
  FLUIDML_RESOLVE(output_dims, "output_dims");
  FLUIDML_RESOLVE(input_bytes, "input_bytes");
  FLUIDML_RESOLVE(output_bytes, "output_bytes");
  FLUIDML_RESOLVE(arena_bytes, "arena_bytes");
  FLUIDML_RESOLVE(weights_bytes, "weights_bytes");
#undef FLUIDML_RESOLVE
  return 0;
}

static double nowMs(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

/* A field of /proc/self/status in bytes ("VmRSS:", "VmHWM:"); 0 when unavailable. */
static long long statusBytes(const char *field) {
  FILE *status = fopen("/proc/self/status", "r");
  if (status == NULL) return 0;
  char line[256];
  long long kib = 0;
  const size_t length = strlen(field);
  while (fgets(line, sizeof line, status) != NULL)
    if (strncmp(line, field, length) == 0) {
      kib = strtoll(line + length, NULL, 10);
      break;
    }
  fclose(status);
  return kib * 1024;
}

/* This process's peak RSS. VmHWM first: Linux carries the parent's high-water mark over fork and exec into
 * getrusage's ru_maxrss, so a runner started from a big process (Python with numpy) would report the parent's
 * peak; VmHWM belongs to this process image alone. ru_maxrss only where /proc is missing. */
static long long peakResidentBytes(void) {
  long long hwm = statusBytes("VmHWM:");
  if (hwm > 0) return hwm;
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return (long long)usage.ru_maxrss * 1024;
}

static int compareDoubles(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Fills an input deterministically: floats from one LCG stream in [-1, 1), everything else zero. */
static void fillInput(void *data, size_t bytes, int dtype, uint64_t *state) {
  if (dtype == kDtypeFloat32) {
    float *values = data;
    for (size_t i = 0; i < bytes / sizeof(float); ++i) {
      *state = *state * 6364136223846793005ull + 1442695040888963407ull;
      values[i] = (float)((double)(*state >> 40) / 16777216.0 * 2.0 - 1.0); /* 24 bits: exact in float */
    }
  } else if (dtype == kDtypeFloat64) {
    double *values = data;
    for (size_t i = 0; i < bytes / sizeof(double); ++i) {
      *state = *state * 6364136223846793005ull + 1442695040888963407ull;
      values[i] = (double)(*state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
    }
  } else {
    memset(data, 0, bytes);
  }
}

/* Reads the inputs' bytes from path; the file must hold exactly their total size. */
static int readInputs(const char *path, const ModelApi *api, int count, void **inputs, size_t total) {
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    fail("cannot open --inputs file '%s': %s", path, strerror(errno));
    return -1;
  }
  struct stat info;
  if (fstat(fileno(file), &info) != 0 || !S_ISREG(info.st_mode)) {
    fail("--inputs file '%s' is not a regular file", path);
    fclose(file);
    return -1;
  }
  if ((unsigned long long)info.st_size != (unsigned long long)total) {
    fail("--inputs file '%s' holds %lld bytes, expected %zu (the %d input%s concatenated in graph order)", path,
         (long long)info.st_size, total, count, count == 1 ? "" : "s");
    fclose(file);
    return -1;
  }
  for (int k = 0; k < count; ++k) {
    size_t bytes = api->input_bytes(k);
    if (fread(inputs[k], 1, bytes, file) != bytes) {
      fail("cannot read input %d ('%s') from '%s'", k, api->input_name(k), path);
      fclose(file);
      return -1;
    }
  }
  fclose(file);
  return 0;
}

/* Writes the outputs to path through a temporary sibling renamed into place: no partial file on failure. */
static int writeOutputs(const char *path, const ModelApi *api, int count, void *const *outputs) {
  size_t length = strlen(path);
  char *temporary = malloc(length + 32);
  if (temporary == NULL) {
    fail("out of memory");
    return -1;
  }
  snprintf(temporary, length + 32, "%s.tmp.%ld", path, (long)getpid());
  FILE *file = fopen(temporary, "wb");
  if (file == NULL) {
    fail("cannot write --outputs file '%s': %s", temporary, strerror(errno));
    free(temporary);
    return -1;
  }
  int ok = 1;
  for (int k = 0; k < count && ok; ++k) {
    size_t bytes = api->output_bytes(k);
    ok = fwrite(outputs[k], 1, bytes, file) == bytes;
  }
  ok = (fflush(file) == 0) && ok;
  ok = (fclose(file) == 0) && ok;
  if (ok && rename(temporary, path) != 0) ok = 0;
  if (!ok) {
    fail("cannot write --outputs file '%s': %s", path, strerror(errno));
    unlink(temporary);
  }
  free(temporary);
  return ok ? 0 : -1;
}

/* A JSON string literal (the directory name may hold quotes or backslashes). */
static void printJsonString(const char *text) {
  putchar('"');
  for (const unsigned char *c = (const unsigned char *)text; *c != '\0'; ++c) {
    if (*c == '"' || *c == '\\') printf("\\%c", *c);
    else if (*c < 0x20) printf("\\u%04x", *c);
    else putchar(*c);
  }
  putchar('"');
}

static const char *dtypeName(int dtype) {
  static const char *const names[] = {"float32", "float64", "int64", "int32", "int8", "uint8", "bool"};
  return dtype >= 0 && dtype < (int)(sizeof names / sizeof names[0]) ? names[dtype] : "unknown";
}

static void printTensor(const char *role, int k, const char *name, int dtype, int rank, const int64_t *dims) {
  printf("  %s %d %s: %s[", role, k, name ? name : "?", dtypeName(dtype));
  for (int d = 0; d < rank && dims != NULL; ++d) printf("%s%lld", d ? "," : "", (long long)dims[d]);
  printf("]\n");
}

/* Runs everything after the library is loaded; the caller closes it. */
static int runModel(const Options *options, const ModelApi *api) {
  const int numInputs = api->num_inputs(), numOutputs = api->num_outputs();
  if (numInputs < 0 || numOutputs < 0) {
    fail("libmodel.so reports %d inputs and %d outputs", numInputs, numOutputs);
    return -1;
  }
  int status = -1;
  void *model = NULL;
  double *times = NULL;
  char *weightsPath = joinPath(options->dir, "weights.bin");
  void **inputs = calloc((size_t)numInputs + 1, sizeof(void *));
  void **outputs = calloc((size_t)numOutputs + 1, sizeof(void *));
  if (weightsPath == NULL || inputs == NULL || outputs == NULL) {
    fail("out of memory");
    goto done;
  }

  const double createStart = nowMs();
  model = api->create(weightsPath, options->threads);
  const double createMs = nowMs() - createStart;
  if (model == NULL) {
    const char *why = api->last_error();
    fail("cannot create the model from '%s': %s", weightsPath, why && why[0] ? why : "(no message)");
    goto done;
  }
  const long long rssAfterCreate = statusBytes("VmRSS:");

  size_t totalInputBytes = 0;
  uint64_t lcg = 0x853c49e6748fea9bull;
  for (int k = 0; k < numInputs; ++k) {
    size_t bytes = api->input_bytes(k);
    if (totalInputBytes > SIZE_MAX - bytes) {
      fail("the inputs' sizes overflow");
      goto done;
    }
    totalInputBytes += bytes;
    inputs[k] = malloc(bytes ? bytes : 1);
    if (inputs[k] == NULL) {
      fail("out of memory for input %d (%zu bytes)", k, bytes);
      goto done;
    }
    if (options->inputs == NULL) fillInput(inputs[k], bytes, api->input_dtype(k), &lcg);
  }
  if (options->inputs != NULL && readInputs(options->inputs, api, numInputs, inputs, totalInputBytes) != 0)
    goto done;
  for (int k = 0; k < numOutputs; ++k) {
    size_t bytes = api->output_bytes(k);
    outputs[k] = calloc(bytes ? bytes : 1, 1);
    if (outputs[k] == NULL) {
      fail("out of memory for output %d (%zu bytes)", k, bytes);
      goto done;
    }
  }

  times = malloc((size_t)options->iters * sizeof(double));
  if (times == NULL) {
    fail("out of memory");
    goto done;
  }
  for (int r = 0; r < options->warmup + options->iters; ++r) {
    const double start = nowMs();
    if (api->run(model, (const void *const *)inputs, (void *const *)outputs) != 0) {
      const char *why = api->last_error();
      fail("fluidml_model_run failed: %s", why && why[0] ? why : "(no message)");
      goto done;
    }
    const double elapsed = nowMs() - start;
    if (r >= options->warmup) times[r - options->warmup] = elapsed;
  }
  const long long peakRss = peakResidentBytes();

  if (options->outputs != NULL && writeOutputs(options->outputs, api, numOutputs, outputs) != 0) goto done;

  qsort(times, (size_t)options->iters, sizeof(double), compareDoubles);
  const int n = options->iters;
  const double median = n % 2 ? times[n / 2] : 0.5 * (times[n / 2 - 1] + times[n / 2]);
  const double minMs = times[0], maxMs = times[n - 1];
  const size_t weightsBytes = api->weights_bytes(), arenaBytes = api->arena_bytes();
  if (options->json) {
    printf("{\"dir\": ");
    printJsonString(options->dir);
    printf(", \"threads\": %d, \"iters\": %d, \"median_ms\": %.4f, \"min_ms\": %.4f, \"max_ms\": %.4f, "
           "\"weights_bytes\": %zu, \"arena_bytes\": %zu, \"peak_rss_bytes\": %lld, "
           "\"rss_after_create_bytes\": %lld, \"create_ms\": %.3f}\n",
           options->threads, n, median, minMs, maxMs, weightsBytes, arenaBytes, peakRss, rssAfterCreate, createMs);
  } else {
    printf("%s: %d input%s, %d output%s\n", options->dir, numInputs, numInputs == 1 ? "" : "s", numOutputs,
           numOutputs == 1 ? "" : "s");
    for (int k = 0; k < numInputs; ++k)
      printTensor("input", k, api->input_name(k), api->input_dtype(k), api->input_rank(k), api->input_dims(k));
    for (int k = 0; k < numOutputs; ++k)
      printTensor("output", k, api->output_name(k), api->output_dtype(k), api->output_rank(k), api->output_dims(k));
    printf("inputs: %s\n", options->inputs ? options->inputs : "generated (floats in [-1, 1), integers 0)");
    printf("threads %d%s, %d warm-up + %d timed runs: median %.3f ms, min %.3f ms, max %.3f ms\n", options->threads,
           options->threads == 0 ? " (compiled default)" : "", options->warmup, n, median, minMs, maxMs);
    printf("create %.1f ms; weights %.1f MiB, arena %.1f MiB; RSS after create %.1f MiB, peak RSS %.1f MiB\n",
           createMs, weightsBytes / 1048576.0, arenaBytes / 1048576.0, rssAfterCreate / 1048576.0,
           peakRss / 1048576.0);
    if (options->outputs) printf("outputs written to %s\n", options->outputs);
  }
  status = 0;

done:
  if (model != NULL) api->destroy(model);
  for (int k = 0; inputs != NULL && k < numInputs; ++k) free(inputs[k]);
  for (int k = 0; outputs != NULL && k < numOutputs; ++k) free(outputs[k]);
  free(inputs);
  free(outputs);
  free(times);
  free(weightsPath);
  return status;
}

int main(int argc, char **argv) {
  Options options;
  if (parseOptions(argc, argv, &options) != 0) return kExitError;
  char *libraryPath = joinPath(options.dir, "libmodel.so");
  if (libraryPath == NULL) {
    fail("out of memory");
    return kExitError;
  }
  void *library = dlopen(libraryPath, RTLD_NOW | RTLD_LOCAL);
  if (library == NULL) {
    const char *why = dlerror();
    fail("cannot load %s: %s", libraryPath, why ? why : "(no message)");
    free(libraryPath);
    return kExitError;
  }
  free(libraryPath);
  ModelApi api;
  int status = loadApi(library, &api) == 0 ? runModel(&options, &api) : -1;
  fflush(stdout);
  /* No dlclose: the process ends here, and unloading the library first would only leave leak checkers
   * (LeakSanitizer in sanitizer builds) without the symbols of its code. */
  (void)library;
  return status == 0 ? kExitOk : kExitError;
}
