// The C API of AOT-compiled models (model_api.h), linked whole into every libmodel.so next to the generated
// code (model.o: the entry `fluidml_generated_entry`) and the generated metadata (model_meta.c: the
// `fluidml_meta_*` tables). No LLVM: only libc, libpthread and the runtime's thread pool.
#include "core/runtime/model_api.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "core/runtime/runtime_abi.h"
#include "core/runtime/thread_pool.h"

extern "C" {
// Generated per model (aot_compiler.cpp).
void fluidml_generated_entry(uint8_t *arena, const uint8_t *weights, void *const *inputs, void *const *outputs,
                         fluidml_runtime *runtime);
extern const int fluidml_meta_num_inputs;
extern const int fluidml_meta_num_outputs;
extern const char *const fluidml_meta_input_names[];
extern const char *const fluidml_meta_output_names[];
extern const int fluidml_meta_input_dtypes[];
extern const int fluidml_meta_output_dtypes[];
extern const int fluidml_meta_input_ranks[];
extern const int fluidml_meta_output_ranks[];
extern const int64_t *const fluidml_meta_input_dims[];
extern const int64_t *const fluidml_meta_output_dims[];
extern const size_t fluidml_meta_input_bytes[];
extern const size_t fluidml_meta_output_bytes[];
extern const size_t fluidml_meta_arena_bytes;
extern const size_t fluidml_meta_weights_bytes;
extern const int fluidml_meta_default_threads;
extern const size_t fluidml_meta_state_offset;  // kernel state (shared scratch buffers) after the arena, zeroed
extern const size_t fluidml_meta_state_bytes;
}

struct fluidml_model {
  void *mapping = nullptr;  // the mapped weights file (nullptr when the model has no weights)
  size_t mappingBytes = 0;
  uint8_t *arena = nullptr;
  fluidml::runtime::ThreadPool *pool = nullptr;
  fluidml_runtime runtime;
};

namespace {

thread_local std::string lastError;

fluidml_model *fail(std::string message) {
  lastError = std::move(message);
  return nullptr;
}

bool validInput(int index) { return index >= 0 && index < fluidml_meta_num_inputs; }
bool validOutput(int index) { return index >= 0 && index < fluidml_meta_num_outputs; }

alignas(64) const uint8_t kNoWeights[64] = {};

}  // namespace

extern "C" {

fluidml_model *fluidml_model_create(const char *weights_path, int threads) {
  lastError.clear();
  std::unique_ptr<fluidml_model, void (*)(fluidml_model *)> model(new (std::nothrow) fluidml_model,
                                                                   fluidml_model_destroy);
  if (!model) return fail("out of memory");
  if (fluidml_meta_weights_bytes > 0) {
    if (weights_path == nullptr) return fail("weights path is NULL");
    const int fd = open(weights_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(std::string(weights_path) + ": " + std::strerror(errno));
    struct stat info {};
    if (fstat(fd, &info) != 0) {
      const int error = errno;
      close(fd);
      return fail(std::string(weights_path) + ": " + std::strerror(error));
    }
    if (static_cast<size_t>(info.st_size) != fluidml_meta_weights_bytes) {
      close(fd);
      return fail(std::string(weights_path) + ": expected " + std::to_string(fluidml_meta_weights_bytes) +
                  " bytes of weights, the file has " + std::to_string(info.st_size) +
                  " (a weights.bin of another model?)");
    }
    void *mapping = mmap(nullptr, fluidml_meta_weights_bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    const int error = errno;
    close(fd);
    if (mapping == MAP_FAILED) return fail(std::string(weights_path) + ": mmap: " + std::strerror(error));
    model->mapping = mapping;
    model->mappingBytes = fluidml_meta_weights_bytes;
  }
  const size_t used = fluidml_meta_state_offset + fluidml_meta_state_bytes;
  const size_t arenaBytes = used < 64 ? 64 : (used + 63) / 64 * 64;
  model->arena = static_cast<uint8_t *>(std::aligned_alloc(64, arenaBytes));
  if (model->arena == nullptr) return fail("cannot allocate the arena (" + std::to_string(arenaBytes) + " bytes)");
  std::memset(model->arena + fluidml_meta_state_offset, 0, fluidml_meta_state_bytes);
  const int poolThreads = threads > 0 ? threads : (fluidml_meta_default_threads > 0 ? fluidml_meta_default_threads : 1);
  model->pool = new (std::nothrow) fluidml::runtime::ThreadPool(poolThreads);
  if (model->pool == nullptr) return fail("out of memory");
  model->runtime.pool = model->pool;
  return model.release();
}

int fluidml_model_run(fluidml_model *model, const void *const *inputs, void *const *outputs) {
  if (model == nullptr) {
    lastError = "fluidml_model_run: model is NULL";
    return -1;
  }
  if ((inputs == nullptr && fluidml_meta_num_inputs > 0) || (outputs == nullptr && fluidml_meta_num_outputs > 0)) {
    lastError = "fluidml_model_run: inputs or outputs is NULL";
    return -1;
  }
  const uint8_t *weights = model->mapping != nullptr ? static_cast<const uint8_t *>(model->mapping) : kNoWeights;
  fluidml_generated_entry(model->arena, weights, const_cast<void *const *>(inputs), outputs, &model->runtime);
  return 0;
}

void fluidml_model_destroy(fluidml_model *model) {
  if (model == nullptr) return;
  delete model->pool;
  std::free(model->arena);
  if (model->mapping != nullptr) munmap(model->mapping, model->mappingBytes);
  delete model;
}

const char *fluidml_model_last_error(void) { return lastError.c_str(); }

int fluidml_model_num_inputs(void) { return fluidml_meta_num_inputs; }
int fluidml_model_num_outputs(void) { return fluidml_meta_num_outputs; }
const char *fluidml_model_input_name(int i) { return validInput(i) ? fluidml_meta_input_names[i] : nullptr; }
const char *fluidml_model_output_name(int i) { return validOutput(i) ? fluidml_meta_output_names[i] : nullptr; }
int fluidml_model_input_dtype(int i) { return validInput(i) ? fluidml_meta_input_dtypes[i] : -1; }
int fluidml_model_output_dtype(int i) { return validOutput(i) ? fluidml_meta_output_dtypes[i] : -1; }
int fluidml_model_input_rank(int i) { return validInput(i) ? fluidml_meta_input_ranks[i] : -1; }
int fluidml_model_output_rank(int i) { return validOutput(i) ? fluidml_meta_output_ranks[i] : -1; }
const int64_t *fluidml_model_input_dims(int i) { return validInput(i) ? fluidml_meta_input_dims[i] : nullptr; }
const int64_t *fluidml_model_output_dims(int i) { return validOutput(i) ? fluidml_meta_output_dims[i] : nullptr; }
size_t fluidml_model_input_bytes(int i) { return validInput(i) ? fluidml_meta_input_bytes[i] : 0; }
size_t fluidml_model_output_bytes(int i) { return validOutput(i) ? fluidml_meta_output_bytes[i] : 0; }
size_t fluidml_model_arena_bytes(void) { return fluidml_meta_arena_bytes; }
size_t fluidml_model_weights_bytes(void) { return fluidml_meta_weights_bytes; }

}  // extern "C"
