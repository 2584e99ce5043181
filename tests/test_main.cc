// tests/test_main.cc: Catch2's main. Each *_test.cc file is one area.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
