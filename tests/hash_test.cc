// tests/hash_test.cc: agentlog/hash.h, the public SHA-256 and hex the tool
// prints hashes with, against the standard's test vector and bad input.
#include <catch2/catch.hpp>

#include "agentlog/hash.h"

namespace agentlog {
namespace {

TEST_CASE("Hash.Sha256IsTheStandardsAndHexRoundTrips", "[hash]") {
  // FIPS 180-2, appendix B.1: SHA-256("abc").
  const std::string digest = Sha256("abc");
  CHECK(digest.size() == 32);
  CHECK(HexEncode(digest) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(HexEncode(Sha256("")) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(HexDecode(HexEncode(digest)) == digest);
  CHECK(HexDecode("00FFab") == std::string("\x00\xff\xab", 3));
  CHECK(HexDecode("") == std::string());
}

TEST_CASE("Hash.HexDecodeRefusesWhatIsNotHex", "[hash]") {
  CHECK_FALSE(HexDecode("abc").has_value());   // odd length
  CHECK_FALSE(HexDecode("zz").has_value());    // not a digit
  CHECK_FALSE(HexDecode("0g").has_value());
  CHECK_FALSE(HexDecode(" 00").has_value());
}

}  // namespace
}  // namespace agentlog
