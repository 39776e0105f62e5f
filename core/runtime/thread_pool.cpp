// The thread pool behind fluidml_parallel_for. A job [0, count) is cut into up to 4 contiguous chunks per
// thread; the caller and the workers claim chunks dynamically from one atomic word (generation << 32 | next
// chunk), so a worker the OS has not scheduled yet delays nobody: the threads that run take its chunks, and
// the caller waits only for chunks already in progress. Waiting threads spin briefly on the word before they
// sleep on a condition variable, so back-to-back kernels do not pay a wake-up each. Jobs allocate nothing; a
// parallel loop started from inside a chunk runs inline on that thread.
//
// The header's plain fields are accessed through std::atomic_ref where threads race on them: generation_
// holds the claim word, pending_ the chunks not yet finished, body_/context_/count_ the job (written before the
// release store that publishes a generation, read after an acquire load of it).
#include "core/runtime/thread_pool.h"

#include <algorithm>
#include <atomic>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace fluidml::runtime {

namespace {

thread_local bool insideChunk = false;

/// Iterations a waiting thread spins (each one pause instruction) before it sleeps: tens of microseconds.
constexpr int kSpinIterations = 20000;
constexpr int kChunksPerThread = 4;

inline void cpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

inline uint32_t generationOf(uint64_t word) { return static_cast<uint32_t>(word >> 32); }
inline uint32_t chunkOf(uint64_t word) { return static_cast<uint32_t>(word); }

}  // namespace

ThreadPool::ThreadPool(int threads) : threads_(std::max(1, threads)) {
  workers_.reserve(static_cast<size_t>(threads_ - 1));
  for (int w = 1; w < threads_; ++w) workers_.emplace_back([this, w] { workerLoop(w); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::atomic_ref<bool>(stopping_).store(true, std::memory_order_relaxed);
    std::atomic_ref<uint64_t> word(generation_);
    word.store((uint64_t{generationOf(word.load(std::memory_order_relaxed)) + 1u} << 32), std::memory_order_release);
  }
  wake_.notify_all();
  for (std::thread &worker : workers_) worker.join();
}

namespace {

/// Claims and runs chunks of generation `generation` until none is left; shared by the caller and the workers.
template <typename Pool>
void claimChunks(Pool &pool, uint32_t generation) {
  std::atomic_ref<uint64_t> word(pool.generation);
  std::atomic_ref<int> pending(pool.pending);
  uint64_t current = word.load(std::memory_order_acquire);
  for (;;) {
    if (generationOf(current) != generation) return;
    // Read the job while the word still shows an unfinished generation (the CAS below confirms it).
    const fluidml_parallel_body body = std::atomic_ref<fluidml_parallel_body>(pool.body).load(std::memory_order_relaxed);
    void *const context = std::atomic_ref<void *>(pool.context).load(std::memory_order_relaxed);
    const int64_t count = std::atomic_ref<int64_t>(pool.count).load(std::memory_order_relaxed);
    const int64_t chunks = std::min<int64_t>(count, int64_t{pool.threads} * kChunksPerThread);
    const uint32_t chunk = chunkOf(current);
    if (chunk >= chunks) return;
    if (!word.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel, std::memory_order_acquire))
      continue;
    const int64_t begin = count * chunk / chunks, end = count * (chunk + 1) / chunks;
    const bool wasInside = insideChunk;
    insideChunk = true;
    if (begin < end) body(context, begin, end);
    insideChunk = wasInside;
    if (pending.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lock(pool.mutex);
      pool.done.notify_all();
    }
    current = word.load(std::memory_order_acquire);
  }
}

}  // namespace

/// References to the pool's private state for claimChunks.
struct PoolView {
  int threads;
  uint64_t &generation;
  int &pending;
  fluidml_parallel_body &body;
  void *&context;
  int64_t &count;
  std::mutex &mutex;
  std::condition_variable &done;
};

void ThreadPool::parallelFor(fluidml_parallel_body body, void *context, int64_t count) {
  if (count <= 0) return;
  if (threads_ == 1 || count == 1 || insideChunk) {
    body(context, 0, count);
    return;
  }
  const int64_t chunks = std::min<int64_t>(count, int64_t{threads_} * kChunksPerThread);
  std::atomic_ref<int> pending(pending_);
  std::atomic_ref<uint64_t> word(generation_);
  uint32_t generation;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::atomic_ref<fluidml_parallel_body>(body_).store(body, std::memory_order_relaxed);
    std::atomic_ref<void *>(context_).store(context, std::memory_order_relaxed);
    std::atomic_ref<int64_t>(count_).store(count, std::memory_order_relaxed);
    pending.store(static_cast<int>(chunks), std::memory_order_relaxed);
    generation = generationOf(word.load(std::memory_order_relaxed)) + 1u;
    word.store(uint64_t{generation} << 32, std::memory_order_release);
  }
  wake_.notify_all();
  PoolView view{threads_, generation_, pending_, body_, context_, count_, mutex_, done_};
  claimChunks(view, generation);
  for (int spin = 0; spin < kSpinIterations; ++spin) {
    if (pending.load(std::memory_order_acquire) == 0) return;
    cpuRelax();
  }
  std::unique_lock<std::mutex> lock(mutex_);
  done_.wait(lock, [&] { return pending.load(std::memory_order_acquire) == 0; });
}

void ThreadPool::workerLoop(int /*worker*/) {
  std::atomic_ref<uint64_t> word(generation_);
  std::atomic_ref<bool> stopping(stopping_);
  PoolView view{threads_, generation_, pending_, body_, context_, count_, mutex_, done_};
  uint32_t seen = generationOf(word.load(std::memory_order_acquire));
  for (;;) {
    for (int spin = 0; spin < kSpinIterations && generationOf(word.load(std::memory_order_acquire)) == seen; ++spin)
      cpuRelax();
    if (generationOf(word.load(std::memory_order_acquire)) == seen) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [&] {
        return generationOf(word.load(std::memory_order_relaxed)) != seen || stopping.load(std::memory_order_relaxed);
      });
    }
    if (stopping.load(std::memory_order_acquire)) return;
    seen = generationOf(word.load(std::memory_order_acquire));
    claimChunks(view, seen);
  }
}

}  // namespace fluidml::runtime

extern "C" __attribute__((visibility("default"))) void fluidml_parallel_for(fluidml_runtime *runtime,
                                                                            fluidml_parallel_body body,
                                                                            void *context, int64_t count) {
  if (count <= 0) return;
  if (runtime == nullptr || runtime->pool == nullptr) {
    body(context, 0, count);
    return;
  }
  runtime->pool->parallelFor(body, context, count);
}
