// A fixed-size thread pool for the parallel outer loops of generated kernels. Workers spin briefly and then
// sleep between jobs; a job is split into one contiguous chunk per thread, and the caller runs a chunk too.
// No allocation per job.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#include "core/runtime/runtime_abi.h"

namespace fluidml::runtime {

class ThreadPool {
 public:
  /// `threads` >= 1 counts the caller; threads - 1 workers are started.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool &) = delete;
  ThreadPool &operator=(const ThreadPool &) = delete;

  int threads() const { return threads_; }
  /// Runs body over [0, count) in contiguous chunks on all threads; returns when every chunk is done.
  void parallelFor(fluidml_parallel_body body, void *context, int64_t count);

 private:
  void workerLoop(int worker);

  int threads_;
  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  uint64_t generation_ = 0;
  int pending_ = 0;
  bool stopping_ = false;
  fluidml_parallel_body body_ = nullptr;
  void *context_ = nullptr;
  int64_t count_ = 0;
};

}  // namespace fluidml::runtime

/// The runtime state behind the C ABI's opaque pointer.
struct fluidml_runtime {
  fluidml::runtime::ThreadPool *pool = nullptr;
  /// One slot per profiled node (fluidml_profile_record), or nullptr when the model is not profiled.
  fluidml_profile_slot *profile = nullptr;
};
