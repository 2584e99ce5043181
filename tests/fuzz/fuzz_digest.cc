// tests/fuzz/fuzz_digest.cc: Store::VerifyAgainst's digest parser
// (`agentlog verify DB --against DIGEST`) over arbitrary text, on the
// fixture store of fuzz_util.h (intact: every digest of it that parses is
// checked against its real history).
//
// Input: the digest text (seeds: the fixture's real run and store digests).
//
// Properties: the answer is OK or one of the documented errors
// (InvalidArgument: not a digest; NotFound: no such run; Corruption: the
// history differs), never a crash; and a digest that passes stops passing
// when one hex digit of its hash changes -- the hash is really compared.
#include <string>

#include "tests/fuzz/fuzz_util.h"

namespace {

agentlog::Status Check(agentlog::Store& store, const std::string& digest) {
  agentlog::Status status = store.VerifyAgainst(digest);
  FUZZ_CHECK(status.ok() || status.IsInvalidArgument() || status.IsNotFound() || status.IsCorruption(),
             "\"" + digest.substr(0, 200) + "\": " + status.ToString());
  return status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Built once: VerifyAgainst only reads, so every input sees the same store.
  static agentlog::fuzz::MemoryStore* memory = [] {
    auto fixture = agentlog::fuzz::OpenMemoryStore();
    agentlog::fuzz::FillFixture(*fixture);
    return fixture.release();
  }();
  std::string digest(reinterpret_cast<const char*>(data), size);
  if (!Check(*memory->store, digest).ok()) return 0;
  char& last = digest.back();
  last = last == '0' ? '1' : '0';
  FUZZ_CHECK(!Check(*memory->store, digest).ok(), "\"" + digest + "\" passes with its hash changed");
  return 0;
}
