// engine/frame.h: the checksummed frame around every stored value.
//
//   frame := checksum:u64le  kind:u8  reserved:u8[7]=0  body
//   checksum = XXH3-64(kind .. end of body)
//
// The 16-byte header keeps the body 8-byte aligned, as FlatBuffers' readers
// need. Format: engine/record_format.md.
#ifndef AGENTLOG_ENGINE_FRAME_H_
#define AGENTLOG_ENGINE_FRAME_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "agentlog/status.h"

namespace agentlog::internal {

constexpr size_t kFrameHeaderBytes = 16;

// Stored as a byte: never renumber. A new encoding of a value gets a new kind.
enum class FrameKind : uint8_t {
  kRecordV1 = 1,       // events CF: a fb::Record
  kRunMetaV1 = 2,      // runs CF: a fb::RunMeta
  kIdempotencyV1 = 3,  // idempotency CF: a fb::IdempotencyEntry
  kSnapshotV1 = 4,     // snapshots CF: a fb::Snapshot (the metadata)
  kSnapshotStateV1 = 5,  // blobs CF: a snapshot's state bytes, raw
  kContentBlobV1 = 6,    // blobs CF: content stored by Store::PutBlob, raw
};

std::string EncodeFrame(FrameKind kind, std::string_view body);

// `frame` itself if it starts 8-byte aligned, else a copy in *copy: the
// FlatBuffers readers behind CheckFrame's callers need aligned bytes, and
// values read from a backend cursor need not be.
std::string_view AlignedFrame(std::string_view frame, std::string* copy);

// Checks the checksum, kind and header of `frame`; on success *body is the
// frame's body (pointing into `frame`). `what` names the value for the
// message, e.g. "run \"r1\" event 7".
Status CheckFrame(std::string_view frame, FrameKind kind, std::string_view what,
                  std::string_view* body);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_FRAME_H_
