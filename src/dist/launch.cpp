#include "dist/launch.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "util/error.h"
#include "util/log.h"

namespace dpo::dist {
namespace {

std::atomic<int> g_forward_signal{0};

void remember_signal(int signal_number) {
  g_forward_signal.store(signal_number);
}

// SIGINT / SIGTERM remembered (for the ranks) instead of ending the launcher.
class ForwardedSignals {
 public:
  ForwardedSignals() {
    struct sigaction action {};
    action.sa_handler = remember_signal;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_int_);
    sigaction(SIGTERM, &action, &previous_term_);
  }
  ~ForwardedSignals() {
    sigaction(SIGINT, &previous_int_, nullptr);
    sigaction(SIGTERM, &previous_term_, nullptr);
  }
  int take() { return g_forward_signal.exchange(0); }

 private:
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
};

pid_t start_rank(const LaunchOptions& options, int rank, int port) {
  const pid_t pid = fork();
  if (pid < 0) throw_user_error("--nproc: cannot start rank {}: {}", rank, std::strerror(errno));
  if (pid > 0) return pid;
  // the child: its own process group, so a Ctrl-C reaches it once, through the launcher
  setpgid(0, 0);
  setenv("RANK", std::to_string(rank).c_str(), 1);
  setenv("LOCAL_RANK", std::to_string(rank).c_str(), 1);
  setenv("WORLD_SIZE", std::to_string(options.nproc).c_str(), 1);
  setenv("LOCAL_WORLD_SIZE", std::to_string(options.nproc).c_str(), 1);
  setenv("GROUP_RANK", "0", 1);
  setenv("MASTER_ADDR", "127.0.0.1", 1);
  setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
  std::vector<char*> args;
  for (const std::string& arg : options.argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  execv("/proc/self/exe", args.data());
  execvp(args[0], args.data());
  std::fprintf(stderr, "dpo --nproc: cannot run %s: %s\n", args[0], std::strerror(errno));
  _exit(127);
}

int exit_code_of(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

void signal_all(const std::vector<pid_t>& pids, const std::vector<bool>& running, int signal) {
  for (size_t r = 0; r < pids.size(); ++r)
    if (running[r]) kill(pids[r], signal);
}

}  // namespace

int free_local_port() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw_user_error("--nproc: cannot open a socket: {}", std::strerror(errno));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  const bool ok = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
                  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) == 0;
  close(fd);
  if (!ok) throw_user_error("--nproc: cannot find a free local port: {}", std::strerror(errno));
  return ntohs(address.sin_port);
}

int launch_local(const LaunchOptions& options) {
  DPO_CHECK(options.nproc >= 1 && !options.argv.empty(), "launch_local: nothing to launch");
  int port = 0;
  if (const char* given = std::getenv("MASTER_PORT"); given && *given) port = std::atoi(given);
  if (port <= 0 || port > 65535) port = free_local_port();
  log_info("--nproc {}: starting {} ranks on this machine (MASTER_ADDR 127.0.0.1, MASTER_PORT {})",
           options.nproc, options.nproc, port);
  ForwardedSignals signals;
  std::vector<pid_t> pids;
  std::vector<bool> running(options.nproc, true);
  for (int rank = 0; rank < options.nproc; ++rank) pids.push_back(start_rank(options, rank, port));
  int result = 0;
  int left = options.nproc;
  std::chrono::steady_clock::time_point kill_at{};
  bool stopping = false;
  int forwarded = 0;  // the signal passed on to the ranks: their exit 128 + it is no failure
  while (left > 0) {
    if (const int signal = signals.take()) {
      forwarded = signal;
      log_info("--nproc: {} passed on to the ranks", signal == SIGINT ? "SIGINT" : "SIGTERM");
      signal_all(pids, running, signal);
    }
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < options.nproc; ++r) {
        if (pids[r] != pid || !running[r]) continue;
        running[r] = false;
        --left;
        const int code = exit_code_of(status);
        if (code != 0 && result == 0) {
          result = code;
          if (left > 0 && code != 128 + forwarded) {
            log_error("--nproc: rank {} exited with {}; stopping the other ranks", r, code);
            signal_all(pids, running, SIGTERM);
            stopping = true;
            kill_at =
                std::chrono::steady_clock::now() + std::chrono::seconds(options.grace_seconds);
          }
        }
      }
      continue;
    }
    if (stopping && std::chrono::steady_clock::now() > kill_at) {
      signal_all(pids, running, SIGKILL);
      stopping = false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return result;
}

}  // namespace dpo::dist
