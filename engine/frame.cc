// engine/frame.cc: see engine/frame.h and engine/record_format.md.
#include "engine/frame.h"

#include <cstring>

#include "base/assert.h"
#include "base/crypto.h"

namespace agentlog::internal {

static_assert(kFrameHeaderBytes % 8 == 0, "frame bodies must stay 8-byte aligned");

std::string EncodeFrame(FrameKind kind, std::string_view body) {
  std::string frame(kFrameHeaderBytes, '\0');
  frame[8] = static_cast<char>(kind);
  frame.append(body);
  const uint64_t checksum = Checksum64(std::string_view(frame).substr(8));
  for (int i = 0; i < 8; ++i) frame[i] = static_cast<char>((checksum >> (8 * i)) & 0xff);
  AGENTLOG_ASSERT(frame.size() == kFrameHeaderBytes + body.size());
  return frame;
}

std::string_view AlignedFrame(std::string_view frame, std::string* copy) {
  if (reinterpret_cast<uintptr_t>(frame.data()) % 8 == 0) return frame;
  copy->assign(frame);  // heap storage: aligned to at least 8 bytes
  AGENTLOG_ASSERT(frame.size() <= 15 || reinterpret_cast<uintptr_t>(copy->data()) % 8 == 0);
  return *copy;
}

Status CheckFrame(std::string_view frame, FrameKind kind, std::string_view what,
                  std::string_view* body) {
  if (frame.size() < kFrameHeaderBytes) {
    return Status::Corruption(std::string(what) + ": stored value is " +
                              std::to_string(frame.size()) + " bytes, shorter than its " +
                              std::to_string(kFrameHeaderBytes) + "-byte frame header");
  }
  uint64_t stored = 0;
  for (int i = 7; i >= 0; --i) stored = (stored << 8) | static_cast<unsigned char>(frame[i]);
  const uint64_t computed = Checksum64(frame.substr(8));
  if (stored != computed) {
    return Status::Corruption(std::string(what) + ": checksum mismatch (stored " +
                              HexEncode(frame.substr(0, 8)) +
                              "); the record is damaged: run `agentlog verify` and restore "
                              "from a replica or backup");
  }
  if (static_cast<uint8_t>(frame[8]) != static_cast<uint8_t>(kind)) {
    return Status::Corruption(std::string(what) + ": frame kind " +
                              std::to_string(static_cast<unsigned char>(frame[8])) +
                              ", expected " + std::to_string(static_cast<int>(kind)) +
                              "; written by a newer agentlog or damaged");
  }
  for (size_t i = 9; i < kFrameHeaderBytes; ++i) {
    if (frame[i] != '\0') {
      return Status::Corruption(std::string(what) + ": reserved frame header byte " +
                                std::to_string(i) + " is not zero");
    }
  }
  *body = frame.substr(kFrameHeaderBytes);
  return Status::OK();
}

}  // namespace agentlog::internal
