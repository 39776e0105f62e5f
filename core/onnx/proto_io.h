// File and protobuf plumbing shared by model import/export and tensor files: parsing with a 2 GiB limit,
// whole-file reads, and atomic writes (temporary file + rename).
#pragma once

#include <string>

#include <google/protobuf/message_lite.h>

#include "core/support/status.h"

namespace fluidml::onnxio {

/// The largest message protobuf can parse or serialize (INT32_MAX bytes).
inline constexpr uint64_t kMaxProtoBytes = 0x7fffffffu;

/// Parses `bytes` into `message`; false when they are not a valid serialization.
bool parseProtoBytes(const std::string &bytes, google::protobuf::MessageLite &message);
/// Parses the file at `path` into `message`. Errors (no prefix): cannot open, over 2 GiB, parse failure
/// (`what` names the expected content in the message, e.g. "ONNX model").
Status parseProtoFile(const std::string &path, const std::string &what, google::protobuf::MessageLite &message);
/// Writes `bytes` to `path` through a temporary file in the same folder and a rename.
Status writeFileAtomically(const std::string &path, const std::string &bytes);
/// The folder that relative paths in a file's external data refer to ("." for a bare file name).
std::string parentFolder(const std::string &path);
/// "1.5 GiB", "12.0 MiB", "300 bytes".
std::string formatBytes(uint64_t bytes);

}  // namespace fluidml::onnxio
