// tests/format_doc_test.cc: the on-disk format document and the code stay
// in step (STYLE.md rule 5: each on-disk layout has a *_format.md beside its
// writer, the writer links to it, and a test checks the link).
//
// Goal: engine/record_format.md exists; the writers link to it; the
// constants it states are the code's constants; and its worked rules (key
// example, frame checksum, chain input, digest Merkle tree) compute the
// same bytes as the code.
// Method: read the document and sources from AGENTLOG_SOURCE_DIR (a compile
// definition of the test target), compare text against the code's
// constants, and recompute the documented formulas independently here.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "base/crypto.h"
#include "engine/frame.h"
#include "engine/keys.h"
#include "engine/record_codec.h"
#include "engine/rocksdb_files.h"
#include "testing/test_util.h"

#ifndef AGENTLOG_SOURCE_DIR
#error "tests/CMakeLists.txt defines AGENTLOG_SOURCE_DIR (the project source directory)"
#endif

using namespace agentlog;
using namespace agentlog::testing;
using agentlog::internal::Hash;

namespace {

const std::string kDocPath = "engine/record_format.md";

std::string SourcePath(const std::string& relative) {
  return std::string(AGENTLOG_SOURCE_DIR) + "/" + relative;
}

std::string ReadSource(const std::string& relative) {
  const std::string path = SourcePath(relative);
  INFO("reading " << path);
  REQUIRE(std::filesystem::is_regular_file(path));
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

bool Contains(const std::string& text, const std::string& fragment) {
  return text.find(fragment) != std::string::npos;
}

std::vector<std::string> LinesOf(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The value of `constexpr std::string_view NAME = "VALUE";` (or NAME{"VALUE"...})
// in `source`, up to its closing quote or first escape.
std::string StringConstant(const std::string& source, const std::string& name) {
  INFO("constant " << name);
  size_t at = source.find(name);
  REQUIRE(at != std::string::npos);
  at += name.size();
  while (at < source.size() && (source[at] == ' ' || source[at] == '=' || source[at] == '{')) ++at;
  REQUIRE(at < source.size());
  REQUIRE(source[at] == '"');
  const size_t end = source.find_first_of("\"\\", at + 1);
  REQUIRE(end != std::string::npos);
  return source.substr(at + 1, end - at - 1);
}

// The stems of the `engine/NAME.cc` and `engine/NAME.h` files `text` names.
std::vector<std::string> EngineFilesNamedIn(const std::string& text) {
  std::vector<std::string> stems;
  for (size_t at = text.find("`engine/"); at != std::string::npos; at = text.find("`engine/", at + 1)) {
    size_t end = at + 8;
    while (end < text.size() && (std::islower(static_cast<unsigned char>(text[end])) || text[end] == '_')) {
      ++end;
    }
    const std::string rest = text.substr(end, 4);
    if (rest == ".cc`" || rest.substr(0, 3) == ".h`") stems.push_back(text.substr(at + 1, end - at - 1));
  }
  return stems;
}

// Hex bytes of the doc's example line that starts with `label` ("events",
// "global"), before and after the "->".
std::pair<std::string, std::string> ExampleLine(const std::string& doc, const std::string& label) {
  for (const std::string& line : LinesOf(doc)) {
    std::istringstream in(line);
    std::string first;
    if (!(in >> first) || first != label || !Contains(line, "->")) continue;
    std::string before, after;
    bool arrow = false;
    for (std::string word; in >> word;) {
      if (word == "->") {
        arrow = true;
      } else if (word.size() == 2 && std::isxdigit(static_cast<unsigned char>(word[0])) &&
                 std::isxdigit(static_cast<unsigned char>(word[1]))) {
        (arrow ? after : before) += *internal::HexDecode(word);
      } else if (word.size() >= 2 && word.front() == '"' && word.back() == '"') {
        (arrow ? after : before) += word.substr(1, word.size() - 2);
      }
    }
    return {before, after};
  }
  FAIL("the doc has no example line for " << label);
  return {};
}

void PutBigEndian(std::string* out, uint64_t value, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((value >> shift) & 0xff));
  }
}

void PutLengthPrefixed32(std::string* out, std::string_view bytes) {
  PutBigEndian(out, bytes.size(), 4);
  out->append(bytes);
}

}  // namespace

TEST_CASE("FormatDoc.RecordFormatExistsAndItsWritersLinkToIt", "[format]") {
  // Goal: the document exists and every file that writes the format points
  // to it, so a change to one shows the other.
  // Method: the writers and schemas of the format, and every `engine/...`
  // file the document's "Written by" paragraph names (or that file's
  // header), mention "record_format.md".
  const std::string doc = ReadSource(kDocPath);
  CHECK(doc.size() > 1000);
  for (const std::string writer :
       {"engine/record_codec.cc", "engine/record_codec.h", "engine/frame.h", "engine/frame.cc",
        "engine/keys.h", "engine/keys.cc", "engine/meta_codec.h", "engine/store_verify.cc",
        "schema/record.fbs", "schema/store_meta.fbs"}) {
    INFO(writer << " must mention record_format.md");
    CHECK(Contains(ReadSource(writer), "record_format.md"));
  }
  // The writers are listed in the paragraph that starts "Written by".
  const size_t written_by = doc.find("Written by");
  REQUIRE(written_by != std::string::npos);
  const std::string writers = doc.substr(written_by, doc.find("\n\n", written_by) - written_by);
  size_t named = 0;
  for (const std::string& stem : EngineFilesNamedIn(writers)) {
    if (!std::filesystem::exists(SourcePath(stem + ".cc")) &&
        !std::filesystem::exists(SourcePath(stem + ".h"))) {
      FAIL_CHECK(kDocPath << " names " << stem << ".{cc,h}, which does not exist");
      continue;
    }
    const bool links = (std::filesystem::exists(SourcePath(stem + ".cc")) &&
                        Contains(ReadSource(stem + ".cc"), "record_format.md")) ||
                       (std::filesystem::exists(SourcePath(stem + ".h")) &&
                        Contains(ReadSource(stem + ".h"), "record_format.md"));
    INFO(stem << " is named by the doc but neither its .cc nor its .h links back");
    CHECK(links);
    ++named;
  }
  CHECK(named >= 4);
}

TEST_CASE("FormatDoc.StatesTheConstantsOfTheCode", "[format]") {
  // Goal: every number and name the document states is the code's.
  // Method: compare the document's text with the constants of frame.h,
  // keys.h, options.h, store.h and (as source text, since they are private)
  // store_open.cc, record_codec.cc and store_verify.cc.
  const std::string doc = ReadSource(kDocPath);
  const std::vector<std::string> lines = LinesOf(doc);
  auto has_line_with = [&](const std::vector<std::string>& fragments) {
    return std::any_of(lines.begin(), lines.end(), [&](const std::string& line) {
      return std::all_of(fragments.begin(), fragments.end(),
                         [&](const std::string& fragment) { return Contains(line, fragment); });
    });
  };

  // Frames: header size, kinds and the table each kind holds.
  CHECK(Contains(doc, std::to_string(internal::kFrameHeaderBytes) + "-byte"));
  const std::vector<std::pair<internal::FrameKind, std::string>> kinds = {
      {internal::FrameKind::kRecordV1, "agentlog.fb.Record"},
      {internal::FrameKind::kRunMetaV1, "agentlog.fb.RunMeta"},
      {internal::FrameKind::kIdempotencyV1, "agentlog.fb.IdempotencyEntry"},
      {internal::FrameKind::kSnapshotV1, "agentlog.fb.Snapshot"},
      {internal::FrameKind::kSnapshotStateV1, "raw (the projection's `Encode()"},
      {internal::FrameKind::kContentBlobV1, "raw (`Store::PutBlob"}};
  for (const auto& [kind, table] : kinds) {
    const std::string number = std::to_string(static_cast<int>(kind));
    INFO("frame kind " << number << " holds " << table);
    CHECK(has_line_with({"| " + number + " |", table + "`"}));
  }
  CHECK(Contains(doc, "XXH3-64"));

  // The store's format marker.
  const std::string open_source = ReadSource("engine/store_open.cc");
  const std::string marker_key = StringConstant(open_source, "kFormatMarkerKey");
  const std::string version = StringConstant(open_source, "kFormatVersion");
  CHECK(Contains(doc, "`" + marker_key + "` = `\"" + version + "\"`"));
  CHECK(Contains(lines.front(), "version " + version));

  // Chain domain and digest prefixes.
  const std::string domain = StringConstant(ReadSource("engine/record_codec.cc"), "kChainDomain");
  CHECK(domain == "agentlog-chain-v1");
  CHECK(Contains(doc, "\"" + domain + "\" 0x00"));
  const std::string verify_source = ReadSource("engine/store_verify.cc");
  const std::string run_prefix = StringConstant(verify_source, "kRunDigestPrefix");
  const std::string store_prefix = StringConstant(verify_source, "kStoreDigestPrefix");
  CHECK(Contains(doc, run_prefix + "RUN:SEQ:HEX"));
  CHECK(Contains(doc, store_prefix + "POSITION:RUNS:HEX"));

  // Limits that shape keys.
  CHECK(Contains(doc, "[A-Za-z0-9._:-]{1," + std::to_string(kMaxRunIdBytes) + "}"));
  CHECK(Contains(doc, "<= " + std::to_string(kMaxIdempotencyKeyBytes)));
  CHECK(Contains(doc, "(" + std::to_string(kEventSchemaVersion) + ")"));

  // Run status bytes.
  for (int status = 0; status <= static_cast<int>(RunStatus::kFailed); ++status) {
    const std::string entry =
        std::to_string(status) + " " + std::string(RunStatusName(static_cast<RunStatus>(status)));
    INFO("run status " << entry);
    CHECK(Contains(doc, entry));
  }
  // Payload states.
  CHECK(Contains(doc, std::to_string(fb::PayloadState_Present) + " present"));
  CHECK(Contains(doc, std::to_string(fb::PayloadState_Removed) + " removed"));
}

TEST_CASE("FormatDoc.WorkedRulesComputeTheCodesBytes", "[format]") {
  // Goal: the document's grammar is the code's, not just its vocabulary:
  // following the document by hand gives the same keys, checksums, chain
  // hashes and digests.
  // Method: decode the key example from the document's hex and compare with
  // keys.h; recompute a frame checksum, a chain hash (from the documented
  // canonical input) and a store digest (from the documented Merkle tree over
  // three runs, an odd count) and compare with the engine's.
  const std::string doc = ReadSource(kDocPath);

  // Keys: "run `deploy-42`, event 7 at global position 1003".
  REQUIRE(Contains(doc, "run `deploy-42`, event 7 at global position 1003"));
  const auto [event_key, event_value] = ExampleLine(doc, "events");
  CHECK(event_key == internal::EventKey("deploy-42", 7));
  const auto [global_key, global_value] = ExampleLine(doc, "global");
  CHECK(global_key == internal::GlobalKey(1003));
  CHECK(global_value == internal::GlobalValue("deploy-42", 7));

  // Frame: checksum := XXH3-64(kind || reserved || body) as u64le.
  const std::string frame = internal::EncodeFrame(internal::FrameKind::kRunMetaV1, "some body bytes");
  REQUIRE(frame.size() == internal::kFrameHeaderBytes + 15);
  uint64_t stored = 0;
  for (int i = 7; i >= 0; --i) stored = (stored << 8) | static_cast<unsigned char>(frame[i]);
  CHECK(stored == internal::Checksum64(std::string_view(frame).substr(8)));
  CHECK(static_cast<uint8_t>(frame[8]) == 2);
  CHECK(frame.substr(9, 7) == std::string(7, '\0'));

  // Chain: SHA-256 over the canonical input, written out from the document.
  internal::Envelope envelope;
  envelope.run_id = "deploy-42";
  envelope.sequence = 7;
  envelope.global_position = 1003;
  envelope.timestamp_us = -5;  // two's complement
  envelope.event_type = 21;
  envelope.schema_version = 1;
  envelope.turn_id = "turn-1";
  envelope.step_id = "";
  envelope.causation = 6;
  envelope.idempotency_key = "key-9";
  envelope.actor_kind = 3;
  envelope.actor_id = "tool-x";
  envelope.payload_hash = internal::Sha256("payload");
  const Hash previous = internal::Sha256("previous");
  std::string input("agentlog-chain-v1", 17);
  input.push_back('\0');
  input.append(internal::HashView(previous));
  PutLengthPrefixed32(&input, envelope.run_id);
  PutBigEndian(&input, envelope.sequence, 8);
  PutBigEndian(&input, envelope.global_position, 8);
  PutBigEndian(&input, static_cast<uint64_t>(envelope.timestamp_us), 8);
  PutBigEndian(&input, envelope.event_type, 2);
  PutBigEndian(&input, envelope.schema_version, 2);
  PutLengthPrefixed32(&input, envelope.turn_id);
  PutLengthPrefixed32(&input, envelope.step_id);
  PutBigEndian(&input, envelope.causation, 8);
  PutLengthPrefixed32(&input, envelope.idempotency_key);
  input.push_back(static_cast<char>(envelope.actor_kind));
  PutLengthPrefixed32(&input, envelope.actor_id);
  input.append(internal::HashView(envelope.payload_hash));
  CHECK(internal::Sha256(input) == internal::ChainHash(previous, envelope));
  CHECK(internal::kGenesisChainHash == Hash{});

  // Digests over a real store: three runs (an odd count), in id byte order.
  TempDir dir;
  ManualClock clock(1'000'000);
  auto store = OpenStore(dir.path(), &clock);
  AppendMessage(*store, "b-run", "one");
  AppendMessage(*store, "a-run", "two");
  AppendMessage(*store, "c-run", "three");
  AppendMessage(*store, "a-run", "four");
  std::vector<Hash> leaves;
  for (const std::string run_id : {"a-run", "b-run", "c-run"}) {
    auto info = store->GetRun(run_id);
    REQUIRE(info.ok());
    CHECK(*store->RunDigest(run_id) == "agentlog-run-v1:" + run_id + ":" +
                                           std::to_string(info->head_sequence) + ":" +
                                           internal::HexEncode(info->head_chain_hash));
    std::string leaf(1, '\0');
    PutBigEndian(&leaf, run_id.size(), 8);
    leaf += run_id;
    PutBigEndian(&leaf, info->head_sequence, 8);
    leaf += info->head_chain_hash;
    leaves.push_back(internal::Sha256(leaf));
  }
  auto node = [](const Hash& left, const Hash& right) {
    std::string bytes(1, '\1');
    bytes.append(internal::HashView(left));
    bytes.append(internal::HashView(right));
    return internal::Sha256(bytes);
  };
  const Hash root = node(node(leaves[0], leaves[1]), leaves[2]);  // the odd leaf carried up
  CHECK(*store->StoreDigest() ==
        "agentlog-store-v1:4:3:" + internal::HexEncode(internal::HashView(root)));
}

TEST_CASE("FormatDoc.DeadlineAndContentBlobExamplesAreTheCodes", "[format]") {
  // Goal: the "Deadline index" and "Content blobs" sections' grammar is the
  // code's: their worked examples decode to the keys keys.h builds, and the
  // limits they state are the code's.
  // Method: decode the example lines' hex and compare with keys.h.
  const std::string doc = ReadSource(kDocPath);
  REQUIRE(Contains(doc, "## Deadline index"));
  REQUIRE(Contains(doc, "## Content blobs"));

  REQUIRE(Contains(doc, "run `deploy-42` sets step `fetch`'s deadline to\n1700000000000000"));
  const auto [deadline_key, deadline_value] = ExampleLine(doc, "index");
  CHECK(deadline_key == internal::DeadlineIndexKey(1'700'000'000'000'000, "deploy-42", "fetch"));
  std::string sequence;
  internal::PutBigEndian64(&sequence, 12);
  CHECK(deadline_value == sequence);
  CHECK(deadline_key[0] == internal::kDeadlineIndexTag);
  CHECK(Contains(doc, "'" + std::string(1, internal::kDeadlineIndexTag) + "' || be64(deadline_at_us XOR 2^63)"));
  CHECK(Contains(doc, "at most " + std::to_string(kMaxIdBytes) + " bytes, like the envelope's step id"));

  const auto [blob_key, blob_value] = ExampleLine(doc, "blobs");
  CHECK(blob_key == internal::ContentBlobKey(internal::HashView(internal::Sha256("hello"))));
  CHECK(blob_key.size() == internal::kContentBlobKeyBytes);
  CHECK(Contains(doc, std::to_string(internal::kContentBlobKeyBytes) + " bytes, in `blobs`"));
  CHECK(Contains(doc, "at most " + std::to_string(kMaxBlobBytes >> 20) + " MiB, `kMaxBlobBytes`"));
  CHECK(Contains(doc, "frame kind " + std::to_string(static_cast<int>(internal::FrameKind::kContentBlobV1)) +
                          " whose body is the content"));
}

TEST_CASE("FormatDoc.CloseMarkerExampleIsTheCodes", "[format]") {
  // Goal: the "Files beside RocksDB's" section's example marker is exactly
  // what engine/rocksdb_files.cc writes for those values (its checksum
  // line included), and decodes back to them; one changed byte is refused.
  // Method: cut the indented example out of the document.
  const std::string doc = ReadSource(kDocPath);
  REQUIRE(Contains(doc, "## Files beside RocksDB's"));
  const size_t start = doc.find("      agentlog-closed-v1\n");
  REQUIRE(start != std::string::npos);
  std::string example;
  for (size_t at = start; at < doc.size() && doc.compare(at, 6, "      ") == 0;) {
    const size_t end = doc.find('\n', at);
    example += doc.substr(at + 6, end - at - 6) + "\n";
    at = end + 1;
  }
  internal::CloseMarker marker;
  marker.high_water = 1003;
  marker.manifest = "MANIFEST-000057";
  marker.logs = {{"000051.log", 3307, /*inherited=*/true}, {"000056.log", 48213, /*inherited=*/false}};
  CHECK(internal::EncodeCloseMarker(marker) == example);
  auto decoded = internal::DecodeCloseMarker(example);
  REQUIRE(decoded.ok());
  CHECK(*decoded == marker);
  std::string damaged = example;
  damaged[damaged.find("48213")] = '5';
  CHECK(internal::DecodeCloseMarker(damaged).status().IsCorruption());
  for (const char* name : {"AGENTLOG_LOCK", "AGENTLOG_CLOSED", "AGENTLOG_DAMAGED"}) CHECK(Contains(doc, name));
  CHECK(std::string(internal::kCloseMarkerFile) == "AGENTLOG_CLOSED");
  CHECK(std::string(internal::kDamageNoteFile) == "AGENTLOG_DAMAGED");
  CHECK(std::string(internal::kWriterLockFile) == "AGENTLOG_LOCK");
}
