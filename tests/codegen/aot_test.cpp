// Ahead-of-time compilation end to end: a small graph compiled with codegen::compileAot into a temporary
// directory, a C program built against its model.h with the system `cc`, run on inputs written to a file, and
// its outputs compared with the reference interpreter (rtol 1e-4, atol 1e-5: the graph holds reductions).
// Skipped (with a warning) when no `cc` is on PATH.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/analysis/memory_plan.h"
#include "core/codegen/compiler.h"
#include "tests/test_util.h"

using namespace fluidml;
using ir::DType;
using ir::Tensor;
using ir::ValueId;
namespace fs = std::filesystem;

namespace {

// Reads every input (in graph order, sizes from the API) from argv[2], runs twice, writes the outputs to argv[3];
// prints the metadata it sees to stdout.
const char *kProgram = R"(#include <stdio.h>
#include <stdlib.h>
#include "model.h"
int main(int argc, char **argv) {
  if (argc != 5) return 2;
  fluidml_model *m = fluidml_model_create(argv[1], 2);
  if (!m) { fprintf(stderr, "create: %s\n", fluidml_model_last_error()); return 3; }
  int ni = fluidml_model_num_inputs(), no = fluidml_model_num_outputs();
  const void *in[8]; void *out[8];
  FILE *f = fopen(argv[2], "rb");
  if (!f) return 4;
  for (int k = 0; k < ni; ++k) {
    void *p = malloc(fluidml_model_input_bytes(k) + 1);
    if (fread(p, 1, fluidml_model_input_bytes(k), f) != fluidml_model_input_bytes(k)) return 5;
    in[k] = p;
    printf("input %s dtype %d rank %d dim0 %lld\n", fluidml_model_input_name(k), fluidml_model_input_dtype(k),
           fluidml_model_input_rank(k), (long long)fluidml_model_input_dims(k)[0]);
  }
  fclose(f);
  for (int k = 0; k < no; ++k) out[k] = calloc(1, fluidml_model_output_bytes(k) + 1);
  for (int r = 0; r < 2; ++r)
    if (fluidml_model_run(m, in, out) != 0) return 6;
  f = fopen(argv[3], "wb");
  for (int k = 0; k < no; ++k) fwrite(out[k], 1, fluidml_model_output_bytes(k), f);
  fclose(f);
  printf("outputs %d arena %zu weights %zu bad index %p\n", no, fluidml_model_arena_bytes(),
         fluidml_model_weights_bytes(), (void *)fluidml_model_input_name(ni));
  /* A second instance over all-zero weights (argv[4]) keeps its own kernel state: its MatMul output is 0. */
  {
    fluidml_model *z = fluidml_model_create(argv[4], 1);
    if (!z) return 8;
    float *zout = calloc(1, fluidml_model_output_bytes(2));
    void *zouts[8] = {calloc(1, fluidml_model_output_bytes(0)), calloc(1, fluidml_model_output_bytes(1)), zout};
    if (fluidml_model_run(z, in, zouts) != 0) return 9;
    for (size_t i = 0; i < fluidml_model_output_bytes(2) / 4; ++i)
      if (zout[i] != 0.0f) { fprintf(stderr, "instance state is shared\n"); return 10; }
    float *first = out[2];
    int nonzero = 0;
    for (size_t i = 0; i < fluidml_model_output_bytes(2) / 4; ++i) nonzero += first[i] != 0.0f;
    if (!nonzero) return 11;
    fluidml_model_destroy(z);
    for (int k = 0; k < 3; ++k) free(zouts[k]);
  }
  fluidml_model_destroy(m);
  for (int k = 0; k < ni; ++k) free((void *)in[k]);
  for (int k = 0; k < no; ++k) free(out[k]);
  fluidml_model *bad = fluidml_model_create("/nonexistent/weights.bin", 1);
  if (bad || fluidml_model_last_error()[0] == 0) return 7;
  return 0;
}
)";

bool haveCompiler() {
  const char *path = std::getenv("PATH");
  std::stringstream dirs(path != nullptr ? path : "");
  std::string dir;
  while (std::getline(dirs, dir, ':'))
    if (!dir.empty() && access((fs::path(dir) / "cc").c_str(), X_OK) == 0) return true;
  return false;
}

std::string readText(const fs::path &path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

TEST_CASE("AOT: libmodel.so from a C program matches the interpreter", "[llvm][aot]") {
  if (!haveCompiler()) {
    WARN("no cc on PATH: AOT test skipped");
    return;
  }
  ir::GraphBuilder b = test::makeBuilder();
  ValueId x = b.input("x", DType::Float32, {8, 40});
  ValueId bias = b.constant("bias", test::randomFloats({8, 40}, 11));
  ValueId s = b.op("Softmax", {x}, {{"axis", int64_t{-1}}});
  ValueId t = b.op("Softmax", {bias}, {{"axis", int64_t{0}}});
  ValueId flat = b.op("Reshape", {s, b.constant("shape", Tensor::fromVector<int64_t>({1}, std::vector<int64_t>{320}))});
  ValueId y = b.op("ReduceSum", {t, b.constant("axes", Tensor::fromVector<int64_t>({1}, std::vector<int64_t>{0}))},
                   {{"keepdims", int64_t{0}}});
  ValueId w = b.constant("w", test::randomFloats({40, 16}, 12));
  ValueId mm = b.op("Relu", {b.op("MatMul", {x, w})});
  b.output(flat);
  b.output(y);
  b.output(mm);
  auto graph = std::move(b).build();
  REQUIRE(graph.hasValue());
  auto plan = analysis::planMemory(*graph, {});
  REQUIRE(plan.hasValue());

  const fs::path dir = fs::temp_directory_path() / ("fluidml_aot_test_" + std::to_string(getpid()));
  fs::remove_all(dir);
  codegen::CompileOptions options;
  options.threads = 2;
  Status compiled = codegen::compileAot(*graph, *plan, dir.string(), options);
  INFO((compiled.isOk() ? std::string() : compiled.message()));
  REQUIRE(compiled.isOk());
  for (const char *file : {"libmodel.so", "model.h", "weights.bin", "model.json"}) REQUIRE(fs::exists(dir / file));
  CHECK(readText(dir / "model.json").find("\"arena_bytes\"") != std::string::npos);

  // No LLVM or protobuf at run time.
  REQUIRE(std::system(("ldd " + (dir / "libmodel.so").string() + " > " + (dir / "ldd.txt").string()).c_str()) == 0);
  const std::string libraries = readText(dir / "ldd.txt");
  CHECK(libraries.find("LLVM") == std::string::npos);
  CHECK(libraries.find("protobuf") == std::string::npos);

  { std::ofstream(dir / "app.c") << kProgram; }
#ifdef FLUIDML_AOT_SANITIZE
  const std::string sanitize = " -fsanitize=address,undefined";  // libmodel.so is sanitized too: ASan must come first
#else
  const std::string sanitize;
#endif
  const std::string build = "cc -O1" + sanitize + " -o " + (dir / "app").string() + " " + (dir / "app.c").string() +
                            " -I" + dir.string() + " -L" + dir.string() + " -lmodel -Wl,-rpath," + dir.string();
  REQUIRE(std::system(build.c_str()) == 0);

  const Tensor input = test::randomFloats({8, 40}, 21);
  {
    std::ofstream in(dir / "inputs.bin", std::ios::binary);
    in.write(static_cast<const char *>(input.rawData()), static_cast<std::streamsize>(input.bytes()));
  }
  const std::string run = (dir / "app").string() + " " + (dir / "weights.bin").string() + " " +
                          (dir / "inputs.bin").string() + " " + (dir / "outputs.bin").string() + " " +
                          (dir / "zeros.bin").string() + " > " + (dir / "app.txt").string();
  {
    std::ofstream zeros(dir / "zeros.bin", std::ios::binary);
    const std::string blank(static_cast<size_t>(fs::file_size(dir / "weights.bin")), '\0');
    zeros << blank;
  }
  REQUIRE(std::system(run.c_str()) == 0);
  const std::string printed = readText(dir / "app.txt");
  CHECK(printed.find("input x dtype 0 rank 2 dim0 8") != std::string::npos);
  CHECK(printed.find("outputs 3") != std::string::npos);
  CHECK(printed.find("bad index (nil)") != std::string::npos);

  const std::vector<Tensor> expected = test::runGraph(*graph, {input});
  std::ifstream out(dir / "outputs.bin", std::ios::binary);
  for (const Tensor &e : expected) {
    Tensor actual = Tensor::zeros(e.dtype(), e.shape());
    out.read(static_cast<char *>(actual.rawData()), static_cast<std::streamsize>(actual.bytes()));
    REQUIRE(out.good());
    for (int64_t i = 0; i < e.numel(); ++i) {
      INFO("element " << i);
      REQUIRE(std::abs(e.elementAsDouble(i) - actual.elementAsDouble(i)) <= 1e-5 + 1e-4 * std::abs(e.elementAsDouble(i)));
    }
  }

  // A weights file of the wrong size is refused with a message.
  { std::ofstream(dir / "short.bin") << "xx"; }
  const std::string shortRun = (dir / "app").string() + " " + (dir / "short.bin").string() + " " +
                               (dir / "inputs.bin").string() + " " + (dir / "o2.bin").string() + " x 2> " +
                               (dir / "err.txt").string();
  CHECK(std::system(shortRun.c_str()) != 0);
  CHECK(readText(dir / "err.txt").find("bytes of weights") != std::string::npos);
  fs::remove_all(dir);
}
