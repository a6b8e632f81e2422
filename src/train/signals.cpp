#include "train/signals.h"

#include <unistd.h>

#include <atomic>
#include <csignal>

namespace dpo {
namespace {

std::atomic<int> g_stop_signal{0};
struct sigaction g_previous_int, g_previous_term;
bool g_installed = false;

void on_stop_signal(int signal_number) {
  if (g_stop_signal.load() != 0) {  // the second Ctrl-C: stop now
    const char message[] = "\nsecond signal: exiting without a checkpoint\n";
    (void)!write(STDERR_FILENO, message, sizeof(message) - 1);
    _exit(128 + signal_number);
  }
  g_stop_signal.store(signal_number);
}

}  // namespace

void install_stop_handlers() {
  if (g_installed) return;
  struct sigaction action {};
  action.sa_handler = on_stop_signal;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, &g_previous_int);
  sigaction(SIGTERM, &action, &g_previous_term);
  g_installed = true;
}

void remove_stop_handlers() {
  if (!g_installed) return;
  sigaction(SIGINT, &g_previous_int, nullptr);
  sigaction(SIGTERM, &g_previous_term, nullptr);
  g_installed = false;
}

int stop_signal() {
  return g_stop_signal.load();
}
void request_stop(int signal_number) {
  g_stop_signal.store(signal_number);
}
void clear_stop_request() {
  g_stop_signal.store(0);
}

}  // namespace dpo
