// engine/table_file_check.cc: see engine/table_file_check.h.
#include "engine/table_file_check.h"

#include <optional>

#include <xxhash.h>

#include "base/bytes.h"
#include "engine/crc32c.h"

namespace agentlog::internal {
namespace {

constexpr std::string_view kPropertiesBlockName = "rocksdb.properties";
constexpr size_t kMaxMetaBlockBytes = size_t{64} << 20;  // far over any real one

bool Varint(std::string_view* in, uint64_t* value) {
  *value = 0;
  for (int shift = 0; shift <= 63 && !in->empty(); shift += 7) {
    const auto byte = static_cast<unsigned char>(in->front());
    in->remove_prefix(1);
    *value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

struct Handle {
  uint64_t offset = 0;
  uint64_t size = 0;
};

bool DecodeHandle(std::string_view* in, Handle* handle) {
  return Varint(in, &handle->offset) && Varint(in, &handle->size);
}

// The checksum RocksDB stores in a block's trailer, of the block and its
// compression type byte; nullopt for a checksum type this reader does not know.
std::optional<uint32_t> BlockChecksum(uint8_t type, std::string_view block, char compression) {
  switch (type) {
    case 1: return Crc32cMask(Crc32cExtend(Crc32c(block), std::string_view(&compression, 1)));
    case 2: {
      std::string bytes(block);
      bytes.push_back(compression);
      return XXH32(bytes.data(), bytes.size(), 0);
    }
    case 3: {
      std::string bytes(block);
      bytes.push_back(compression);
      return static_cast<uint32_t>(XXH64(bytes.data(), bytes.size(), 0));
    }
    case 4:
      return static_cast<uint32_t>(XXH3_64bits(block.data(), block.size())) ^
             static_cast<uint32_t>(static_cast<uint8_t>(compression)) * 0x6b9083d9u;
    default: return std::nullopt;
  }
}

class TableFile {
 public:
  TableFile(std::string_view name, uint64_t size, const ReadAt& read) : name_(name), size_(size), read_(read) {}

  Status Damage(const std::string& what) const {
    return Status::Corruption(std::string(name_) + ": " + what + "; the table file is damaged (RocksDB would "
                              "parse that block before checking it)");
  }

  // The contents of the block at `handle`, its checksum checked.
  Status ReadBlock(const Handle& handle, uint8_t checksum_type, const char* what, std::string* block) const {
    if (handle.size > kMaxMetaBlockBytes || handle.offset > size_ ||
        handle.size + kTableBlockTrailerBytes > size_ - handle.offset) {
      return Damage(std::string("its ") + what + " block handle (offset " + std::to_string(handle.offset) +
                    ", size " + std::to_string(handle.size) + ") leaves the file");
    }
    Status status = read_(handle.offset, handle.size + kTableBlockTrailerBytes, block);
    if (!status.ok()) return status;
    const std::string_view data = std::string_view(*block).substr(0, handle.size);
    const char compression = (*block)[handle.size];
    const std::optional<uint32_t> expected = BlockChecksum(checksum_type, data, compression);
    if (expected.has_value() && *expected != Little32(block->data() + handle.size + 1)) {
      return Damage(std::string("its ") + what + " block (offset " + std::to_string(handle.offset) +
                    ") fails its checksum");
    }
    // A compressed block is left whole (trailer included), for the caller to
    // tell: RocksDB writes meta blocks uncompressed.
    if (compression == 0) block->resize(handle.size);
    return Status::OK();
  }

  const std::string_view name_;
  const uint64_t size_;
  const ReadAt& read_;
};

// The handle of the block named `wanted` in a metaindex block; false if absent.
bool FindInMetaindex(std::string_view block, std::string_view wanted, Handle* handle, bool* malformed) {
  *malformed = block.size() < 4;
  if (*malformed) return false;
  const uint32_t restarts = Little32(block.data() + block.size() - 4) & 0x7fffffffu;
  if (static_cast<uint64_t>(restarts) * 4 + 4 > block.size()) {
    *malformed = true;
    return false;
  }
  std::string_view entries = block.substr(0, block.size() - 4 - static_cast<size_t>(restarts) * 4);
  std::string key;
  while (!entries.empty()) {
    uint64_t shared = 0, unshared = 0, value_size = 0;
    if (!Varint(&entries, &shared) || !Varint(&entries, &unshared) || !Varint(&entries, &value_size) ||
        shared > key.size() || unshared + value_size > entries.size()) {
      *malformed = true;
      return false;
    }
    key = key.substr(0, shared) + std::string(entries.substr(0, unshared));
    std::string_view value = entries.substr(unshared, value_size);
    entries.remove_prefix(unshared + value_size);
    if (key != wanted) continue;
    *malformed = !DecodeHandle(&value, handle);
    return !*malformed;
  }
  return false;
}

}  // namespace

Status CheckTableFile(std::string_view name, uint64_t file_size, const ReadAt& read) {
  if (file_size < kTableFooterBytes) return Status::OK();  // RocksDB refuses it (no footer)
  std::string footer;
  Status status = read(file_size - kTableFooterBytes, kTableFooterBytes, &footer);
  if (!status.ok()) return status;
  if (Little64(footer.data() + kTableFooterBytes - 8) != kBlockBasedTableMagic) return Status::OK();
  TableFile file(name, file_size, read);
  const uint8_t checksum_type = static_cast<uint8_t>(footer[0]);
  std::string_view handles = std::string_view(footer).substr(1, 40);
  Handle metaindex;
  if (!DecodeHandle(&handles, &metaindex)) return file.Damage("its footer's metaindex handle does not decode");
  std::string block;
  status = file.ReadBlock(metaindex, checksum_type, "metaindex", &block);
  if (!status.ok()) return status;
  // RocksDB writes meta blocks uncompressed; a compressed one is not ours to parse.
  if (block.size() != metaindex.size) return Status::OK();
  Handle properties;
  bool malformed = false;
  if (!FindInMetaindex(block, kPropertiesBlockName, &properties, &malformed)) {
    return malformed ? file.Damage("its metaindex block does not parse") : Status::OK();
  }
  return file.ReadBlock(properties, checksum_type, "properties", &block);
}

}  // namespace agentlog::internal
