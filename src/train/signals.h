// SIGINT / SIGTERM during training: the handler only records the request; the loop finishes the
// current step, writes a checkpoint and stops (train/trainer.cpp).
#pragma once

namespace dpo {

// Installs the handlers (idempotent); a second signal while a stop is pending exits at once.
void install_stop_handlers();
// Restores the previous handlers.
void remove_stop_handlers();
// 0 when no stop was requested, else the signal number.
int stop_signal();
// For tests and library callers: request or clear a stop as the handler would.
void request_stop(int signal_number);
void clear_stop_request();

}  // namespace dpo
