// engine/table_file_check.h: checks, before RocksDB opens a table file
// (NNNNNN.sst), the one block RocksDB 7.8 reads without checking it first:
// the properties block, which it parses before it verifies its checksum
// (table/meta_blocks.cc, for ingested files whose checksum was written
// before a sequence number in it changed), so that a damaged one stops the
// process in Debian's librocksdb, which keeps its assertions ("num_buckets_ >
// 0", DataBlockHashIndex). Every other block RocksDB verifies itself.
//
// The format (RocksDB's block-based table, format_version 1 and up): the
// file ends with a 53-byte footer
//     checksum_type:u8  metaindex:handle  index:handle  padding (to 41 bytes)
//     format_version:u32le  magic:u64le = 0x88e241b785f4cff7
// where a handle is varint64 offset, varint64 size. Each block is followed
// by a 5-byte trailer: compression type (u8), checksum (u32le) of the block
// and that byte: masked CRC-32C (type 1), XXH32 (2), the low 32 bits of
// XXH64 (3), or of XXH3-64 of the block alone, XORed with the type byte
// times 0x6b9083d9 (type 4, RocksDB 7.8's default). The metaindex block
// maps block names to handles; "rocksdb.properties" is the properties block.
// A file with another magic number (another table format) is not checked.
#ifndef AGENTLOG_ENGINE_TABLE_FILE_CHECK_H_
#define AGENTLOG_ENGINE_TABLE_FILE_CHECK_H_

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "agentlog/status.h"

namespace agentlog::internal {

constexpr size_t kTableFooterBytes = 53;
constexpr size_t kTableBlockTrailerBytes = 5;
constexpr uint64_t kBlockBasedTableMagic = 0x88e241b785f4cff7ull;

// Reads `size` bytes at `offset` of the file into *out (all of them, or an
// error).
using ReadAt = std::function<Status(uint64_t offset, size_t size, std::string* out)>;

// OK, or Corruption naming `name` and the block whose checksum fails or
// whose handle leaves the file; the read's errors.
Status CheckTableFile(std::string_view name, uint64_t file_size, const ReadAt& read);

}  // namespace agentlog::internal

#endif  // AGENTLOG_ENGINE_TABLE_FILE_CHECK_H_
