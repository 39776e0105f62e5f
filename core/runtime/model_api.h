/* The C API of a model compiled ahead of time by fluidml (`fluidml compile MODEL -o DIR`).
 *
 * DIR holds libmodel.so (this API; it needs only libc, libm, libpthread and libstdc++ at run time, no LLVM or
 * protobuf), model.h (this header, with the model's tensors listed below), weights.bin (the constants, memory
 * mapped read-only by fluidml_model_create) and model.json (the same metadata as JSON).
 *
 *   fluidml_model *m = fluidml_model_create("DIR/weights.bin", 0);
 *   if (!m) { fprintf(stderr, "%s\n", fluidml_model_last_error()); ... }
 *   const void *inputs[] = {x};  void *outputs[] = {y};      // dense row-major buffers, graph order
 *   if (fluidml_model_run(m, inputs, outputs) != 0) ...
 *   fluidml_model_destroy(m);
 *
 * Build: cc app.c -IDIR -LDIR -lmodel -Wl,-rpath,DIR
 *
 * A model instance owns one arena for intermediate tensors and a thread pool: run it from one thread at a
 * time (create one instance per concurrent caller; they share the mapped weights file through the page cache).
 * Input and output buffers need no particular alignment; fluidml_model_run allocates nothing. */
#ifndef FLUIDML_MODEL_H
#define FLUIDML_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Element types (fluidml_model_input_dtype/fluidml_model_output_dtype); bool is one byte, 0 or 1. */
enum fluidml_dtype {
  FLUIDML_FLOAT32 = 0,
  FLUIDML_FLOAT64 = 1,
  FLUIDML_INT64 = 2,
  FLUIDML_INT32 = 3,
  FLUIDML_INT8 = 4,
  FLUIDML_UINT8 = 5,
  FLUIDML_BOOL = 6
};

typedef struct fluidml_model fluidml_model;

/** Maps the weights file and allocates the arena and a pool of `threads` threads (<= 0: the thread count given
 * to `fluidml compile --threads`). NULL on failure; fluidml_model_last_error() says why. */
fluidml_model *fluidml_model_create(const char *weights_path, int threads);
/** Runs the model: inputs[k] and outputs[k] point at dense row-major buffers of the k-th graph input/output,
 * sized as fluidml_model_input_bytes(k)/fluidml_model_output_bytes(k). Returns 0, or -1 on a NULL argument. */
int fluidml_model_run(fluidml_model *model, const void *const *inputs, void *const *outputs);
/** Frees the arena, stops the threads and unmaps the weights. NULL is ignored. */
void fluidml_model_destroy(fluidml_model *model);
/** The message of the last failed call in this thread ("" when none). */
const char *fluidml_model_last_error(void);

/* Metadata of the compiled model (index out of range: NULL / -1 / 0). */
int fluidml_model_num_inputs(void);
int fluidml_model_num_outputs(void);
const char *fluidml_model_input_name(int index);   /* the ONNX name */
const char *fluidml_model_output_name(int index);
int fluidml_model_input_dtype(int index);          /* an enum fluidml_dtype */
int fluidml_model_output_dtype(int index);
int fluidml_model_input_rank(int index);
int fluidml_model_output_rank(int index);
const int64_t *fluidml_model_input_dims(int index); /* rank entries */
const int64_t *fluidml_model_output_dims(int index);
size_t fluidml_model_input_bytes(int index);
size_t fluidml_model_output_bytes(int index);
size_t fluidml_model_arena_bytes(void);             /* intermediate tensors (one allocation per instance) */
size_t fluidml_model_weights_bytes(void);           /* the size weights.bin must have */

#ifdef __cplusplus
}
#endif

#endif /* FLUIDML_MODEL_H */
