// libFuzzer target: the TensorBoard event-file reader (record framing, both CRCs, Event protobuf).
// Any input must either decode or raise dpo::UserError. A second pass feeds the bytes to the
// protobuf decoder directly (past the CRC check that stops most mutations), and decoded events
// re-encode to what the decoder reads back.
#include <cstddef>
#include <cstdint>
#include <string>

#include "report/tensorboard.h"
#include "report/tensorboard_reader.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    (void)dpo::report::parse_event_records(bytes, "events");
  } catch (const dpo::UserError&) {
  }
  try {
    auto event = dpo::report::decode_event(bytes, "event");
    auto again = dpo::report::decode_event(
        dpo::report::encode_scalars_event(event.wall_time, event.step, event.scalars), "again");
    if (again.step != event.step || again.scalars.size() != event.scalars.size()) __builtin_trap();
    for (size_t i = 0; i < event.scalars.size(); ++i)
      if (again.scalars[i].tag != event.scalars[i].tag) __builtin_trap();
  } catch (const dpo::UserError&) {
  }
  return 0;
}
