// `dpo train --nproc N ...`: a local launcher for users without torchrun. It starts N copies of
// this program (the same arguments less --nproc) with torchrun's environment (RANK, WORLD_SIZE,
// LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR=127.0.0.1, MASTER_PORT: the caller's or a free one),
// forwards SIGINT / SIGTERM to them, and when one fails stops the others, as torchrun does.
// Plain C++ (POSIX), no libtorch.
#pragma once
#include <string>
#include <vector>

namespace dpo::dist {

struct LaunchOptions {
  int nproc = 1;
  std::vector<std::string> argv;  // the child's command line, argv[0] the program
  // After the first rank fails, how long the others get to exit on SIGTERM before SIGKILL.
  int grace_seconds = 30;
};

// Runs the ranks to their end. Returns the exit code: 0 when every rank succeeded, else the
// first failing rank's code (128 + signal for a rank killed by a signal).
int launch_local(const LaunchOptions& options);

// A TCP port free on 127.0.0.1 now (the OS picks it).
int free_local_port();

}  // namespace dpo::dist
