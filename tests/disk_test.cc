// tests/disk_test.cc: the store on a real disk that fills up and on
// read-only media, through agentlog_disk_child (tests/disk_child.cc), which
// mounts a small tmpfs in a mount namespace of its own. Before the store
// wrote RocksDB's info log itself, RocksDB's logger -- which writes through
// the operating system's file system, not RocksDbOptions::file_system, so the
// fault-injecting tests could not reach it -- aborted the writer on the
// full disk (SIGABRT, `sync_without_flush_called_` in WritableFileWriter);
// and every command of the tool opened the store for writing, so none
// worked on the full disk or on read-only media.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "testing/test_util.h"

using namespace agentlog::testing;

namespace {

// Runs the child in `mode` on a fresh directory; its output and status.
struct ChildRun {
  int status = 0;
  std::string output;
};

ChildRun RunDiskChild(const std::string& mode) {
  TempDir dir;
  const std::string log = dir.Sub("child.out");
  const std::string mount = dir.Sub("disk");
  std::filesystem::create_directories(mount);
  const std::string command = std::string(AGENTLOG_DISK_CHILD_PATH) + " " + mode + " " + mount + " " +
                              AGENTLOG_CLI_PATH + " >" + log + " 2>&1";
  ChildRun run;
  run.status = std::system(command.c_str());
  std::ifstream in(log);
  run.output.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return run;
}

}  // namespace

TEST_CASE("FullDisk.ATmpfsThatFillsUpGivesIOErrorsKeepsEveryAckAndReadsOn", "[fulldisk]") {
  // Goal: agentlog_disk_child full-disk's claims (its header): no abort,
  // IOError, reads and the tool's reading commands on the full disk, every
  // acknowledged append after the disk grows.
  const ChildRun run = RunDiskChild("full-disk");
  INFO(run.output);
  REQUIRE(WIFEXITED(run.status));  // not killed by a signal (an abort)
  CHECK(WEXITSTATUS(run.status) == 0);
  std::cout << run.output;
}

TEST_CASE("ReadOnlyMedia.AStoreOnAReadOnlyMountVerifies", "[readonly]") {
  // Goal: agentlog_disk_child read-only-media's claims: a store on a
  // read-only mount opens read-only, verifies, and the tool reads it.
  const ChildRun run = RunDiskChild("read-only-media");
  INFO(run.output);
  REQUIRE(WIFEXITED(run.status));
  CHECK(WEXITSTATUS(run.status) == 0);
  std::cout << run.output;
}
