// engine/meta_codec.cc: see engine/meta_codec.h.
#include "engine/meta_codec.h"

#include "agentlog/store_meta_generated.h"
#include "base/assert.h"
#include "engine/frame.h"
#include "engine/record_codec.h"

namespace agentlog::internal {
namespace {
std::string_view BufferOf(const flatbuffers::FlatBufferBuilder& builder) {
  return std::string_view(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                          builder.GetSize());
}
}  // namespace

std::string EncodeRunMeta(const RunInfo& info) {
  AGENTLOG_ASSERT(info.head_chain_hash.size() == kHashBytes);
  flatbuffers::FlatBufferBuilder builder(256);
  auto run_id = builder.CreateString(info.run_id);
  auto chain = builder.CreateVector(reinterpret_cast<const uint8_t*>(info.head_chain_hash.data()),
                                    info.head_chain_hash.size());
  auto session = builder.CreateString(info.session_id);
  auto parent = builder.CreateString(info.parent_run_id);
  auto holder = builder.CreateString(info.lease_holder);
  fb::RunMetaBuilder meta(builder);
  meta.add_run_id(run_id);
  meta.add_head_sequence(info.head_sequence);
  meta.add_head_chain_hash(chain);
  meta.add_head_position(info.head_position);
  meta.add_status(static_cast<uint8_t>(info.status));
  meta.add_session_id(session);
  meta.add_parent_run_id(parent);
  meta.add_fork_sequence(info.fork_sequence);
  meta.add_created_us(info.created_us);
  meta.add_last_event_us(info.last_event_us);
  meta.add_lease_holder(holder);
  meta.add_lease_epoch(info.lease_epoch);
  builder.Finish(meta.Finish());
  return EncodeFrame(FrameKind::kRunMetaV1, BufferOf(builder));
}

Status DecodeRunMeta(std::string_view frame, std::string_view run_id, RunInfo* info) {
  const std::string what = "run \"" + std::string(run_id) + "\" metadata";
  std::string copy;
  std::string_view body;
  Status status = CheckFrame(AlignedFrame(frame, &copy), FrameKind::kRunMetaV1, what, &body);
  if (!status.ok()) return status;
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  if (!verifier.VerifyBuffer<fb::RunMeta>(nullptr)) {
    return Status::Corruption(what + ": fails the FlatBuffers verifier");
  }
  const fb::RunMeta* meta = flatbuffers::GetRoot<fb::RunMeta>(body.data());
  if (StringOf(meta->run_id()) != run_id) {
    return Status::Corruption(what + ": stored under this id but names run \"" +
                              std::string(StringOf(meta->run_id())) + "\"");
  }
  if (meta->head_chain_hash() == nullptr || meta->head_chain_hash()->size() != kHashBytes) {
    return Status::Corruption(what + ": head chain hash is not 32 bytes");
  }
  if (meta->status() > static_cast<uint8_t>(RunStatus::kFailed)) {
    return Status::Corruption(what + ": unknown status " + std::to_string(meta->status()));
  }
  info->run_id = std::string(run_id);
  info->head_sequence = meta->head_sequence();
  info->head_chain_hash = std::string(BytesOf(meta->head_chain_hash()));
  info->head_position = meta->head_position();
  info->status = static_cast<RunStatus>(meta->status());
  info->session_id = std::string(StringOf(meta->session_id()));
  info->parent_run_id = std::string(StringOf(meta->parent_run_id()));
  info->fork_sequence = meta->fork_sequence();
  // A fork's own RunForked follows its shared prefix, so its head is past
  // the fork point; a run that is not a fork has neither field.
  if (info->parent_run_id.empty() != (info->fork_sequence == 0) ||
      (info->fork_sequence != 0 && info->head_sequence <= info->fork_sequence)) {
    return Status::Corruption(what + ": parent \"" + info->parent_run_id + "\", fork point " +
                              std::to_string(info->fork_sequence) + " and head " +
                              std::to_string(info->head_sequence) + " do not fit together");
  }
  info->created_us = meta->created_us();
  info->last_event_us = meta->last_event_us();
  info->lease_holder = std::string(StringOf(meta->lease_holder()));
  info->lease_epoch = meta->lease_epoch();
  return Status::OK();
}

std::string EncodeIdempotency(const IdempotencyRecord& record) {
  flatbuffers::FlatBufferBuilder builder(128);
  auto run_id = builder.CreateString(record.run_id);
  auto hash = builder.CreateVector(record.request_hash.data(), record.request_hash.size());
  fb::IdempotencyEntryBuilder entry(builder);
  entry.add_run_id(run_id);
  entry.add_first_sequence(record.result.first_sequence);
  entry.add_last_sequence(record.result.last_sequence);
  entry.add_first_position(record.result.first_position);
  entry.add_last_position(record.result.last_position);
  entry.add_request_hash(hash);
  builder.Finish(entry.Finish());
  return EncodeFrame(FrameKind::kIdempotencyV1, BufferOf(builder));
}

Status DecodeIdempotency(std::string_view frame, std::string_view key, IdempotencyRecord* record) {
  const std::string what = "idempotency key \"" + std::string(key.substr(0, 64)) + "\"";
  std::string copy;
  std::string_view body;
  Status status = CheckFrame(AlignedFrame(frame, &copy), FrameKind::kIdempotencyV1, what, &body);
  if (!status.ok()) return status;
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  if (!verifier.VerifyBuffer<fb::IdempotencyEntry>(nullptr)) {
    return Status::Corruption(what + ": fails the FlatBuffers verifier");
  }
  const auto* entry = flatbuffers::GetRoot<fb::IdempotencyEntry>(body.data());
  if (entry->request_hash() == nullptr || entry->request_hash()->size() != kHashBytes) {
    return Status::Corruption(what + ": request hash is not 32 bytes");
  }
  record->run_id = std::string(StringOf(entry->run_id()));
  record->result.first_sequence = entry->first_sequence();
  record->result.last_sequence = entry->last_sequence();
  record->result.first_position = entry->first_position();
  record->result.last_position = entry->last_position();
  record->result.replayed = true;
  record->request_hash = HashOf(entry->request_hash());
  return Status::OK();
}

std::string SnapshotName(std::string_view run_id, std::string_view projection, uint64_t sequence) {
  return "snapshot of projection \"" + std::string(projection) + "\" at " + RecordName(run_id, sequence);
}

SnapshotValues EncodeSnapshot(std::string_view run_id, std::string_view projection, uint32_t version,
                              uint64_t sequence, std::string_view chain_hash, std::string_view state) {
  flatbuffers::FlatBufferBuilder builder(256);
  auto run = builder.CreateString(run_id);
  auto name = builder.CreateString(projection);
  auto chain = builder.CreateVector(reinterpret_cast<const uint8_t*>(chain_hash.data()), chain_hash.size());
  fb::SnapshotBuilder snapshot(builder);
  snapshot.add_run_id(run);
  snapshot.add_projection(name);
  snapshot.add_version(version);
  snapshot.add_sequence(sequence);
  snapshot.add_chain_hash(chain);
  snapshot.add_state_size(state.size());
  snapshot.add_state_checksum(Checksum64(state));
  builder.Finish(snapshot.Finish());
  return SnapshotValues{EncodeFrame(FrameKind::kSnapshotV1, BufferOf(builder)),
                        EncodeFrame(FrameKind::kSnapshotStateV1, state)};
}

void DecodeSnapshot(std::string_view meta_frame, const std::string* state_frame, std::string_view run_id,
                    std::string_view projection, uint64_t sequence, SnapshotEntry* entry) {
  entry->sequence = sequence;
  const std::string what = SnapshotName(run_id, projection, sequence);
  auto damaged = [&](Status status) {
    entry->status = std::move(status);
    entry->state.clear();
  };
  std::string copy;
  std::string_view body;
  Status status = CheckFrame(AlignedFrame(meta_frame, &copy), FrameKind::kSnapshotV1, what, &body);
  if (!status.ok()) return damaged(status);
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(body.data()), body.size());
  if (!verifier.VerifyBuffer<fb::Snapshot>(nullptr)) {
    return damaged(Status::Corruption(what + ": fails the FlatBuffers verifier"));
  }
  const auto* snapshot = flatbuffers::GetRoot<fb::Snapshot>(body.data());
  if (StringOf(snapshot->run_id()) != run_id || StringOf(snapshot->projection()) != projection ||
      snapshot->sequence() != sequence) {
    return damaged(Status::Corruption(what + ": its value names another run, projection or sequence"));
  }
  if (snapshot->chain_hash() == nullptr || snapshot->chain_hash()->size() != kHashBytes) {
    return damaged(Status::Corruption(what + ": chain hash is not 32 bytes"));
  }
  entry->status = Status::OK();
  entry->version = snapshot->version();
  entry->chain_hash = std::string(BytesOf(snapshot->chain_hash()));
  if (state_frame == nullptr) return;
  // The state frame needs no alignment: its body is raw bytes.
  status = CheckFrame(*state_frame, FrameKind::kSnapshotStateV1, what + " state", &body);
  if (!status.ok()) return damaged(status);
  if (body.size() != snapshot->state_size() ||
      Checksum64(body) != snapshot->state_checksum()) {
    return damaged(Status::Corruption(what + ": the stored state is not the one its metadata describes (" +
                                      std::to_string(body.size()) + " bytes, expected " +
                                      std::to_string(snapshot->state_size()) + ")"));
  }
  entry->state = std::string(body);
}

}  // namespace agentlog::internal
