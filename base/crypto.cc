// base/crypto.cc: thin wrappers; the algorithms are OpenSSL's and xxHash's.
#include "base/crypto.h"

#include <openssl/evp.h>
#include <xxhash.h>

#include "agentlog/hash.h"
#include "base/assert.h"

namespace agentlog::internal {

namespace {

// OpenSSL 3 looks an algorithm up on every EVP_Digest(EVP_sha256()) and
// allocates a context each time: for a 580-byte payload that is ~40% of the
// hash's cost, paid on every read (bench/README.md). So the algorithm is
// fetched once, and each thread keeps one context. Neither holds any state
// between hashes.
const EVP_MD* Sha256Algorithm() {
  static EVP_MD* const algorithm = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  AGENTLOG_ASSERT(algorithm != nullptr);  // libcrypto without SHA-256 is broken: stop
  return algorithm;
}

struct ContextOfThisThread {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  ~ContextOfThisThread() { EVP_MD_CTX_free(context); }
};

}  // namespace

Hash Sha256(std::string_view bytes) {
  thread_local ContextOfThisThread holder;
  Hash out;
  unsigned int length = 0;
  const int ok = EVP_DigestInit_ex2(holder.context, Sha256Algorithm(), nullptr) == 1 &&
                 EVP_DigestUpdate(holder.context, bytes.data(), bytes.size()) == 1 &&
                 EVP_DigestFinal_ex(holder.context, out.data(), &length) == 1;
  // A failure here means libcrypto is broken, not the input: stop.
  AGENTLOG_ASSERT(ok);
  AGENTLOG_ASSERT(length == kHashBytes);
  return out;
}

uint64_t Checksum64(std::string_view bytes) { return XXH3_64bits(bytes.data(), bytes.size()); }

std::string_view HashView(const Hash& hash) {
  return std::string_view(reinterpret_cast<const char*>(hash.data()), hash.size());
}

std::string HexEncode(std::string_view bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0xf]);
  }
  return out;
}

std::optional<std::string> HexDecode(std::string_view hex) {
  if (hex.size() % 2 != 0) return std::nullopt;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = nibble(hex[i]);
    const int low = nibble(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out.push_back(static_cast<char>((high << 4) | low));
  }
  return out;
}

}  // namespace agentlog::internal

// The public face of the above (agentlog/hash.h).
namespace agentlog {

std::string Sha256(std::string_view bytes) {
  return std::string(internal::HashView(internal::Sha256(bytes)));
}

std::string HexEncode(std::string_view bytes) { return internal::HexEncode(bytes); }

std::optional<std::string> HexDecode(std::string_view hex) { return internal::HexDecode(hex); }

}  // namespace agentlog
