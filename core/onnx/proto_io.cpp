#include "core/onnx/proto_io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>

namespace fluidml::onnxio {

namespace {

// Whole-message parse with the 64 MiB default raised to protobuf's hard 2 GiB limit (weights live inline).
bool parseFromStream(google::protobuf::io::ZeroCopyInputStream &stream, google::protobuf::MessageLite &message) {
  google::protobuf::io::CodedInputStream coded(&stream);
  coded.SetTotalBytesLimit(static_cast<int>(kMaxProtoBytes));
  return message.ParseFromCodedStream(&coded) && coded.ConsumedEntireMessage();
}

}  // namespace

bool parseProtoBytes(const std::string &bytes, google::protobuf::MessageLite &message) {
  if (bytes.size() > kMaxProtoBytes) return false;
  google::protobuf::io::ArrayInputStream stream(bytes.data(), static_cast<int>(bytes.size()));
  return parseFromStream(stream, message);
}

Status parseProtoFile(const std::string &path, const std::string &what, google::protobuf::MessageLite &message) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    if (std::filesystem::exists(path, ec)) return Status::error("is not a regular file");
    return Status::error("cannot open the file: no such file");
  }
  uint64_t size = std::filesystem::file_size(path, ec);
  if (ec) return Status::error("cannot read the file size: " + ec.message());
  if (size > kMaxProtoBytes)
    return Status::error("the file is " + formatBytes(size) + ", over protobuf's 2 GiB limit; save the weights " +
                         "as external data (onnx.save_model(model, path, save_as_external_data=True))");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::error(std::string("cannot open the file: ") + std::strerror(errno));
  bool parsed;
  {
    // 4 MiB reads: the 8 KiB default makes hundreds of thousands of syscalls for a BERT-sized file.
    google::protobuf::io::FileInputStream stream(fd, 4 << 20);
    parsed = parseFromStream(stream, message);
    if (stream.GetErrno() != 0) {
      int error = stream.GetErrno();
      ::close(fd);
      return Status::error(std::string("cannot read the file: ") + std::strerror(error));
    }
  }
  ::close(fd);
  if (!parsed) return Status::error("not a valid " + what + " (protobuf parse failed)");
  return Status::ok();
}

Status writeFileAtomically(const std::string &path, const std::string &bytes) {
  // The temporary sits next to the target so that the rename stays within one file system.
  std::string temporary = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) return Status::error("cannot create '" + temporary + "': " + std::strerror(errno));
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::remove(temporary.c_str());
      return Status::error("cannot write '" + temporary + "' (disk full?)");
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) {
    std::remove(temporary.c_str());
    return Status::error("cannot rename '" + temporary + "' to '" + path + "': " + ec.message());
  }
  return Status::ok();
}

std::string parentFolder(const std::string &path) {
  std::string parent = std::filesystem::path(path).parent_path().string();
  return parent.empty() ? std::string(".") : parent;
}

std::string formatBytes(uint64_t bytes) {
  char buffer[64];
  if (bytes >= (uint64_t{1} << 30))
    std::snprintf(buffer, sizeof buffer, "%.1f GiB", static_cast<double>(bytes) / double(uint64_t{1} << 30));
  else if (bytes >= (uint64_t{1} << 20))
    std::snprintf(buffer, sizeof buffer, "%.1f MiB", static_cast<double>(bytes) / double(uint64_t{1} << 20));
  else
    std::snprintf(buffer, sizeof buffer, "%llu bytes", static_cast<unsigned long long>(bytes));
  return buffer;
}

}  // namespace fluidml::onnxio
