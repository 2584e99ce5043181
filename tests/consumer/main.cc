// tests/consumer/main.cc: an embedder's first program, compiled against the
// installed headers and library only (tests/install_test.sh builds it with
// CMake's find_package and with pkg-config).
//
// Opens a store in DIR, appends one event with sync durability, reads it
// back, verifies the run and checks its digest. Prints "consumer ok" and
// exits 0, or prints the failing Status and exits 1.
//
// Usage: agentlog_consumer DIR
#include <cstdio>
#include <memory>
#include <string>

#include "agentlog/agentlog.h"

namespace {

int Fail(const char* step, const agentlog::Status& status) {
  std::fprintf(stderr, "consumer: %s: %s\n", step, status.ToString().c_str());
  return 1;
}

std::string FactPayload() {
  flatbuffers::FlatBufferBuilder builder;
  auto fact = agentlog::fb::CreateFactAddedDirect(builder, "installed", "yes", "consumer");
  builder.Finish(
      agentlog::fb::CreateEvent(builder, agentlog::fb::Body_FactAdded, fact.Union()));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()),
                     builder.GetSize());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  agentlog::Options options;
  options.clock = agentlog::SystemClock();
  auto store = agentlog::Store::Open(options, argv[1]);
  if (!store.ok()) return Fail("open", store.status());

  agentlog::EventInput input;
  input.payload = FactPayload();
  input.actor_kind = agentlog::ActorKind::kSystem;
  input.actor_id = "install-test";
  agentlog::AppendOptions append;
  append.durability = agentlog::Durability::kSync;
  append.expected_head = 0;  // the run must be new
  append.idempotency_key = "consumer-1";
  auto appended = (*store)->Append("consumer-run", std::span(&input, 1), append);
  if (!appended.ok()) return Fail("append", appended.status());

  auto event = (*store)->ReadEvent("consumer-run", appended->first_sequence);
  if (!event.ok()) return Fail("read", event.status());
  const agentlog::fb::FactAdded* fact =
      event->body() != nullptr ? event->body()->body_as_FactAdded() : nullptr;
  if (event->payload() != input.payload || fact == nullptr || fact->key() == nullptr ||
      fact->key()->str() != "installed") {
    std::fprintf(stderr, "consumer: read back a different event (%s)\n",
                 event->type_name().c_str());
    return 1;
  }

  agentlog::VerifyStats stats;
  if (auto status = (*store)->Verify("consumer-run", &stats); !status.ok()) {
    return Fail("verify", status);
  }
  auto digest = (*store)->RunDigest("consumer-run");
  if (!digest.ok()) return Fail("digest", digest.status());
  if (auto status = (*store)->VerifyAgainst(*digest); !status.ok()) {
    return Fail("verify against digest", status);
  }
  if (auto status = (*store)->Close(); !status.ok()) return Fail("close", status);
  std::printf("consumer ok: %llu event verified, %s\n",
              static_cast<unsigned long long>(stats.events), digest->c_str());
  return 0;
}
