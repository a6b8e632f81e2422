// libFuzzer target for dataset rows. The first input byte picks the file kind (even: JSONL, odd:
// JSON array or object of splits) and the rest is the file's text, read through dpo::RowReader.
// Every row read is given to format detection and to each preference and SFT row parser (HH with
// and without hh_to_messages). A bad row must be a RawRow error, an InvalidRow or a UserError;
// anything else is a bug.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "data/formats.h"
#include "data/reader.h"
#include "util/error.h"

namespace {

const dpo::DatasetFormat kPreferenceFormats[] = {
    dpo::DatasetFormat::kStandard, dpo::DatasetFormat::kConversational,
    dpo::DatasetFormat::kImplicit, dpo::DatasetFormat::kHh, dpo::DatasetFormat::kPretokenized};
const dpo::DatasetFormat kSftFormats[] = {dpo::DatasetFormat::kPromptCompletion,
                                          dpo::DatasetFormat::kMessages, dpo::DatasetFormat::kText};

void parse_every_way(const dpo::RawRow& row) {
  try {
    (void)dpo::detect_preference_format(row);
  } catch (const dpo::InvalidRow&) {  // a row that could not be read
  } catch (const dpo::UserError&) {
  }
  try {
    (void)dpo::detect_sft_format(row);
  } catch (const dpo::InvalidRow&) {
  } catch (const dpo::UserError&) {
  }
  for (dpo::DatasetFormat format : kPreferenceFormats) {
    for (bool hh_to_messages : {false, true}) {
      try {
        dpo::FormatOptions options;
        options.hh_to_messages = hh_to_messages;
        (void)dpo::parse_preference_row(row, format, options);
      } catch (const dpo::InvalidRow&) {
      } catch (const dpo::UserError&) {
      }
    }
  }
  for (dpo::DatasetFormat format : kSftFormats) {
    try {
      (void)dpo::parse_sft_row(row, format);
    } catch (const dpo::InvalidRow&) {
    } catch (const dpo::UserError&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool json_file = data[0] % 2 == 1;
  const std::string path =
      "/tmp/dpo-data-rows-fuzz-" + std::to_string(getpid()) + (json_file ? ".json" : ".jsonl");
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return 0;
  std::fwrite(data + 1, 1, size - 1, file);
  std::fclose(file);
  try {
    dpo::RowReader reader({path});
    dpo::RawRow row;
    while (reader.next(row)) parse_every_way(row);
  } catch (const dpo::UserError&) {
  }
  std::remove(path.c_str());
  return 0;
}
