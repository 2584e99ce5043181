// projections/upcaster.cc: see agentlog/upcaster.h.
#include "agentlog/upcaster.h"

#include <flatbuffers/flatbuffers.h>

namespace agentlog {

UpcasterRegistry::UpcasterRegistry(uint16_t current_version) : current_version_(current_version) {}

Status UpcasterRegistry::Register(EventType type, uint16_t from_version, Upcaster upcaster) {
  const std::string step = EventTypeName(type) + " v" + std::to_string(from_version) + " -> v" +
                           std::to_string(from_version + 1);
  if (type == 0) return Status::InvalidArgument("upcaster " + step + ": event type 0 does not exist");
  if (from_version == 0 || from_version >= current_version_) {
    return Status::InvalidArgument("upcaster " + step + ": the step must start at a version in 1.." +
                                   std::to_string(current_version_ - 1) + " (current version " +
                                   std::to_string(current_version_) + ")");
  }
  if (!upcaster) return Status::InvalidArgument("upcaster " + step + " has no function");
  if (!steps_.emplace(std::make_pair(type, from_version), std::move(upcaster)).second) {
    return Status::InvalidArgument("upcaster " + step + " is already registered");
  }
  return Status::OK();
}

bool UpcasterRegistry::NeedsUpcast(EventType type, uint16_t version) const {
  if (version >= current_version_) return false;
  auto it = steps_.lower_bound(std::make_pair(type, version));
  return it != steps_.end() && it->first.first == type && it->first.second < current_version_;
}

Result<std::string> UpcasterRegistry::Upcast(EventType type, uint16_t version, std::string payload) const {
  for (uint16_t from = version; from < current_version_; ++from) {
    auto it = steps_.find(std::make_pair(type, from));
    if (it == steps_.end()) continue;  // this version did not change the type
    const std::string step = EventTypeName(type) + " v" + std::to_string(from) + " -> v" +
                             std::to_string(from + 1);
    auto next = it->second(payload);
    if (!next.ok()) {
      return Status::Corruption("upcaster " + step + " failed: " + next.status().message());
    }
    flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(next->data()), next->size());
    if (!verifier.VerifyBuffer<fb::Event>(nullptr)) {
      return Status::Corruption("upcaster " + step + " produced bytes that are not an agentlog.fb.Event");
    }
    const auto* event = flatbuffers::GetRoot<fb::Event>(next->data());
    if (event->body_type() != type) {
      return Status::Corruption("upcaster " + step + " changed the event type to " +
                                EventTypeName(event->body_type()));
    }
    payload = std::move(next).value();
  }
  return payload;
}

}  // namespace agentlog
