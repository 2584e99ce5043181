// tests/disk_child.cc: agentlog_disk_child, the store on a real disk that
// fills up or turns read-only (tests/disk_test.cc runs it). It makes itself
// a private mount namespace (as root; otherwise a user namespace too) and
// mounts a small tmpfs at DIR, so nothing it does is seen outside, and the
// mount goes with the process.
//
//   agentlog_disk_child full-disk DIR AGENTLOG_CLI
//     kSync appends until the 4 MiB tmpfs is full: the failing append is an
//     IOError, the store stops and stays readable; the tool's reading
//     commands work on it once it is closed, the disk still full (while the
//     writer holds it they refuse, as anywhere); a writing open there opens
//     or is an IOError; once the
//     tmpfs is grown, the store opens with every acknowledged append, byte
//     for byte, verifies, and appends again.
//   agentlog_disk_child read-only-media DIR AGENTLOG_CLI
//     a store written, the tmpfs remounted read-only: OpenReadOnly and the
//     tool's reading commands verify it; a writing open is an IOError.
//
// Exit status 0 when every claim held; 1 with the failed claim on stderr; 2
// when the namespace or the mount cannot be made (needs root or user
// namespaces). A crash (an abort in RocksDB) is the process's signal.
#include <fcntl.h>
#include <sched.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "agentlog/agentlog.h"
#include "agentlog/rocksdb_options.h"

extern char** environ;

namespace {

using agentlog::Status;

int Claim(bool holds, const std::string& claim) {
  if (holds) return 0;
  std::fprintf(stderr, "disk_child: claim failed: %s\n", claim.c_str());
  std::exit(1);  // runs UnmountAtExit
}

bool WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
  return out.good();
}

// A private mount namespace, so that the tmpfs is ours alone. In a chroot
// "/" is no mount point and cannot be made private: the mount may then
// propagate to the mounts it shares (none, where nothing is shared), so the
// tmpfs is also unmounted on every way out (UnmountAtExit).
bool PrivateMounts() {
  if (geteuid() != 0) {
    const uid_t uid = geteuid();
    const gid_t gid = getegid();
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return false;
    if (!WriteText("/proc/self/setgroups", "deny") ||
        !WriteText("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1") ||
        !WriteText("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1")) {
      return false;
    }
  } else if (unshare(CLONE_NEWNS) != 0) {
    return false;
  }
  return mount("none", "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0 || errno == EINVAL;
}

std::string* mounted = nullptr;  // the tmpfs to unmount at exit

void UnmountAtExit() {
  if (mounted != nullptr) umount2(mounted->c_str(), MNT_DETACH);
}

bool MountTmpfs(const std::string& dir, const std::string& options, unsigned long flags = 0) {
  if (mount("tmpfs", dir.c_str(), "tmpfs", flags, options.c_str()) != 0) return false;
  if (mounted == nullptr) {
    mounted = new std::string(dir);
    std::atexit(UnmountAtExit);
  }
  return true;
}

// Runs the tool with `args`; its exit code (128 + signal if it died).
int RunTool(const std::string& cli, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {cli};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> raw;
  for (std::string& arg : argv) raw.push_back(arg.data());
  raw.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int spawned = posix_spawn(&pid, cli.c_str(), &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) return 127;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 127;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Each reading command of the tool on `store` exits `expected`.
void ReadingCommands(const std::string& cli, const std::string& store, int expected, const std::string& when) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"verify", store}, {"log", store, "full"}, {"state", store, "full"},
        {"recover", store}, {"digest", store}}) {
    const int code = RunTool(cli, args);
    Claim(code == expected, "`agentlog " + args[0] + "` " + when + " exits " + std::to_string(expected) +
                                ", not " + std::to_string(code));
  }
}

agentlog::Options StoreOptions() {
  agentlog::Options options;
  options.clock = agentlog::SystemClock();
  auto rocksdb = std::make_shared<agentlog::RocksDbOptions>();
  rocksdb->write_buffer_bytes = 256 << 10;  // flushes and compactions on the small disk too
  options.rocksdb = std::move(rocksdb);
  return options;
}

std::string TextOf(int i) { return "event " + std::to_string(i) + " " + std::string(1000, 'a' + i % 26); }

agentlog::EventInput Event(const std::string& payload) {
  agentlog::EventInput input;
  input.payload = payload;
  input.actor_kind = agentlog::ActorKind::kAgent;
  input.actor_id = "disk-child";
  return input;
}

std::string MessagePayload(const std::string& text) {
  flatbuffers::FlatBufferBuilder builder;
  auto body = agentlog::fb::CreateMessageAppendedDirect(builder, "user", text.c_str());
  builder.Finish(agentlog::fb::CreateEvent(builder, agentlog::fb::Body_MessageAppended, body.Union()));
  return std::string(reinterpret_cast<const char*>(builder.GetBufferPointer()), builder.GetSize());
}

int FullDisk(const std::string& dir, const std::string& cli) {
  if (!MountTmpfs(dir, "size=4m")) return 2;
  const std::string store_dir = dir + "/store";
  std::vector<std::string> acknowledged;
  {
    auto store = agentlog::Store::Open(StoreOptions(), store_dir);
    Claim(store.ok(), "the store opens on the empty tmpfs: " + store.status().ToString());
    Status failure;
    for (int i = 0; i < 100000 && failure.ok(); ++i) {
      const std::string payload = MessagePayload(TextOf(i));
      agentlog::EventInput event = Event(payload);
      auto appended = (*store)->Append("full", std::span(&event, 1), agentlog::AppendOptions());
      if (appended.ok()) acknowledged.push_back(payload);
      if (!appended.ok()) failure = appended.status();
    }
    Claim(failure.IsIOError(), "the append on the full disk is an IOError, not " + failure.ToString());
    Claim(acknowledged.size() > 100, "appends were acknowledged before the disk filled");
    agentlog::EventInput event = Event(MessagePayload("after"));
    Claim((*store)->Append("full", std::span(&event, 1), agentlog::AppendOptions()).status().IsIOError(),
          "the store stopped writing");
    agentlog::ReadOptions read;
    read.limit = agentlog::kMaxReadLimit;
    auto events = (*store)->ReadRun("full", read);
    Claim(events.ok() && events->size() == acknowledged.size(), "reads go on on the full disk");
    // Refused while it is written (IOError: exit 4), as anywhere.
    ReadingCommands(cli, store_dir, 4, "while the writer holds the store on the full disk");
    Status closed = (*store)->Close();
    Claim(closed.IsIOError(), "Close says the store had stopped: " + closed.ToString());
    std::printf("full-disk: %zu kSync appends acknowledged before the disk filled; then: %s\n",
                acknowledged.size(), failure.ToString().substr(0, 160).c_str());
  }
  ReadingCommands(cli, store_dir, 0, "on the closed store, the disk still full");
  {
    // A writing open may find room (the close freed the log's preallocated
    // space) or not; either way an answer, never an abort.
    auto again = agentlog::Store::Open(StoreOptions(), store_dir);
    Claim(again.ok() || again.status().IsIOError(),
          "opening for writing on the full disk opens or is an IOError: " + again.status().ToString());
    std::printf("full-disk: a writing open on the still-full disk: %s\n",
                again.ok() ? "opened" : again.status().ToString().substr(0, 160).c_str());
    if (again.ok()) {
      Status status;
      for (int i = 0; i < 100000 && status.ok(); ++i) {
        agentlog::EventInput event = Event(MessagePayload(TextOf(i)));
        auto appended = (*again)->Append("more", std::span(&event, 1), agentlog::AppendOptions());
        status = appended.status();
      }
      Claim(status.IsIOError(), "appending there fails with an IOError: " + status.ToString());
      (*again)->Close().IgnoreError();  // it stopped: Close says so
    }
  }
  Claim(MountTmpfs(dir, "size=64m", MS_REMOUNT), "the tmpfs grows");
  auto store = agentlog::Store::Open(StoreOptions(), store_dir);
  Claim(store.ok(), "the store opens once there is room: " + store.status().ToString());
  agentlog::ReadOptions read;
  read.limit = agentlog::kMaxReadLimit;
  auto events = (*store)->ReadRun("full", read);
  Claim(events.ok() && events->size() == acknowledged.size(), "every acknowledged append is there");
  for (size_t i = 0; i < acknowledged.size(); ++i) {
    Claim((*events)[i].payload() == acknowledged[i], "event " + std::to_string(i + 1) + " is unchanged");
  }
  Claim((*store)->VerifyAll().ok(), "the store verifies");
  agentlog::EventInput event = Event(MessagePayload("after the disk was grown"));
  auto next = (*store)->Append("full", std::span(&event, 1), agentlog::AppendOptions());
  Claim(next.ok() && next->first_sequence == acknowledged.size() + 1, "the run goes on");
  Claim((*store)->Close().ok(), "a clean close");
  std::printf("full-disk: after growing the disk, all %zu acknowledged appends read back and verify\n",
              acknowledged.size());
  return 0;
}

int ReadOnlyMedia(const std::string& dir, const std::string& cli) {
  if (!MountTmpfs(dir, "size=16m")) return 2;
  const std::string store_dir = dir + "/store";
  {
    auto store = agentlog::Store::Open(StoreOptions(), store_dir);
    Claim(store.ok(), "the store opens: " + store.status().ToString());
    for (int i = 0; i < 50; ++i) {
      agentlog::EventInput event = Event(MessagePayload(TextOf(i)));
      Claim((*store)->Append("full", std::span(&event, 1), agentlog::AppendOptions()).ok(), "an append");
    }
    Claim((*store)->Close().ok(), "a clean close");
  }
  Claim(MountTmpfs(dir, "", MS_REMOUNT | MS_RDONLY), "the tmpfs turns read-only");
  auto reader = agentlog::Store::OpenReadOnly(StoreOptions(), store_dir);
  Claim(reader.ok(), "OpenReadOnly on read-only media: " + reader.status().ToString());
  agentlog::VerifyStats stats;
  Claim((*reader)->VerifyAll(&stats).ok() && stats.events == 50, "the copy on read-only media verifies");
  Claim((*reader)->Close().ok(), "the reader closes");
  ReadingCommands(cli, store_dir, 0, "on read-only media");
  auto writer = agentlog::Store::Open(StoreOptions(), store_dir);
  Claim(!writer.ok() && writer.status().IsIOError(),
        "opening for writing on read-only media is an IOError: " + writer.status().ToString());
  std::printf("read-only-media: 50 events verified through OpenReadOnly and the tool; a writing open: %s\n",
              writer.status().ToString().substr(0, 120).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: agentlog_disk_child full-disk|read-only-media DIR AGENTLOG_CLI\n");
    return 2;
  }
  const std::string mode = argv[1], dir = argv[2], cli = argv[3];
  if (!PrivateMounts()) {
    std::fprintf(stderr, "disk_child: cannot make a private mount namespace (%s): run as root, or "
                         "enable user namespaces\n", std::strerror(errno));
    return 2;
  }
  int code = 2;
  if (mode == "full-disk") code = FullDisk(dir, cli);
  if (mode == "read-only-media") code = ReadOnlyMedia(dir, cli);
  if (code == 2) std::fprintf(stderr, "disk_child: cannot mount a tmpfs at %s (%s)\n", dir.c_str(), std::strerror(errno));
  return code;
}
