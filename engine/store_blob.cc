// engine/store_blob.cc: content blobs. A large payload (a tool's output, an
// artifact) is stored once in `blobs` under its SHA-256; events carry the
// hash, so the chain covers the content without the log holding it. Blobs
// are outside every chain: one written by a process that crashed before
// appending its referencing event is unreferenced garbage, never wrong
// data. Format: engine/record_format.md, "Content blobs".
#include "engine/frame.h"
#include "engine/keys.h"
#include "engine/store_impl.h"

namespace agentlog::internal {

static_assert(kContentBlobKeyBytes == 2 + kHashBytes, "a content blob key is 0x00 'c' sha256");
static_assert(kMaxBlobBytes <= kMaxSnapshotBytes, "blobs share the blobs space with snapshot states");

std::string BlobName(std::string_view sha256) { return "blob " + HexEncode(sha256); }

Result<std::string> StoreImpl::PutBlob(std::string_view content, Durability durability) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  if (Status refused = RefuseIfReadOnly("PutBlob"); !refused.ok()) return refused;
  if (content.size() > kMaxBlobBytes) {
    return Status::LimitExceeded("a blob of " + std::to_string(content.size()) +
                                 " bytes is over kMaxBlobBytes (" + std::to_string(kMaxBlobBytes) +
                                 "); split the content into parts of at most that size");
  }
  const std::string sha256(HashView(Sha256(content)));
  const std::string key = ContentBlobKey(sha256);
  const bool sync = durability == Durability::kSync;
  std::string stored;
  Status status = backend_->Get(Space::kBlobs, key, &stored);
  if (status.ok()) {
    std::string_view body;
    if (CheckFrame(stored, FrameKind::kContentBlobV1, BlobName(sha256), &body).ok() &&
        body == content) {
      // Stored already, perhaps by a kBuffered call: a kSync caller is
      // answered only once it is durable, as for a replayed append.
      if (sync) {
        status = WriteBesideAppends(nullptr, /*sync=*/true);
        if (!status.ok()) return status;
      }
      return sha256;
    }
    // A damaged copy: the content in hand, which has this hash, replaces it.
  } else if (!status.IsNotFound()) {
    return status;
  }
  WriteSet writes;
  writes.Put(Space::kBlobs, key, EncodeFrame(FrameKind::kContentBlobV1, content));
  status = WriteBesideAppends(&writes, sync);
  if (!status.ok()) return status;
  AGENTLOG_ASSERT(sha256.size() == kHashBytes);
  return sha256;
}

Result<std::string> StoreImpl::GetBlob(std::string_view sha256) {
  ReadGuard guard(this);
  if (!guard.status().ok()) return guard.status();
  if (sha256.size() != kHashBytes) {
    return Status::InvalidArgument("a blob hash is " + std::to_string(kHashBytes) +
                                   " raw bytes (the SHA-256 PutBlob returned), not " +
                                   std::to_string(sha256.size()) + "; decode a hex hash first");
  }
  return GetBlobUnguarded(sha256);
}

Result<std::string> StoreImpl::GetBlobUnguarded(std::string_view sha256) {
  AGENTLOG_ASSERT(sha256.size() == kHashBytes);
  std::string stored;
  Status status = backend_->Get(Space::kBlobs, ContentBlobKey(sha256), &stored);
  if (status.IsNotFound()) {
    return Status::NotFound(BlobName(sha256) + " is not stored; store it with PutBlob first");
  }
  if (!status.ok()) return status;
  std::string_view body;
  status = CheckFrame(stored, FrameKind::kContentBlobV1, BlobName(sha256), &body);
  if (!status.ok()) return status;
  // The checksum catches accidental damage; this catches content stored
  // under another hash (an edit that recomputed the checksum, or a misplaced
  // value): what is returned always hashes to the key.
  const Hash actual = Sha256(body);
  if (HashView(actual) != sha256) {
    return Status::Corruption(BlobName(sha256) + ": the stored content's SHA-256 is " +
                              HexEncode(HashView(actual)) +
                              "; it was altered or misplaced: store the content again with "
                              "PutBlob or restore it from a backup");
  }
  stored.erase(0, kFrameHeaderBytes);
  AGENTLOG_ASSERT(stored.size() == body.size());
  return stored;
}

}  // namespace agentlog::internal
