// ModelConfig: fixture configs, classic and transformers-5 RoPE keys, and every error message.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "io/model_config.h"
#include "util/error.h"

namespace fs = std::filesystem;
using dpo::ModelConfig;
using nlohmann::json;

namespace {

json base_config() {
  return json::parse(R"({"model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
    "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
    "vocab_size": 100, "rms_norm_eps": 1e-5, "bos_token_id": 1, "eos_token_id": 2})");
}

ModelConfig parse(const json& j) {
  return ModelConfig::from_json_text(j.dump(), "cfg.json");
}

std::string error_of(const json& j) {
  try {
    parse(j);
  } catch (const dpo::UserError& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR(j, fragment)                                      \
  do {                                                                 \
    std::string message = error_of(j);                                 \
    EXPECT_NE(message.find(fragment), std::string::npos) << message;   \
    EXPECT_NE(message.find("cfg.json"), std::string::npos) << message; \
  } while (0)

}  // namespace

TEST(ModelConfig, FixtureConfigs) {
  auto llama = ModelConfig::from_file(fs::path(DPO_FIXTURES) / "hf/llama/model/config.json");
  EXPECT_EQ(llama.model_type, "llama");
  EXPECT_EQ(llama.hidden_size, 32);
  EXPECT_EQ(llama.num_key_value_heads, 2);
  EXPECT_EQ(llama.head_dim, 8);
  EXPECT_DOUBLE_EQ(llama.rms_norm_eps, 1e-5);
  EXPECT_EQ(llama.rope.type, "default");
  EXPECT_DOUBLE_EQ(llama.rope.theta, 1e4);
  EXPECT_FALSE(llama.tie_word_embeddings);
  EXPECT_EQ(llama.eos_token_ids, std::vector<int64_t>{2});
  EXPECT_FALSE(llama.pad_token_id.has_value());

  auto l3 = ModelConfig::from_file(fs::path(DPO_FIXTURES) / "hf/llama3rope/model/config.json");
  EXPECT_EQ(l3.rope.type, "llama3");
  EXPECT_DOUBLE_EQ(l3.rope.theta, 5e5);
  EXPECT_DOUBLE_EQ(l3.rope.factor, 8);
  EXPECT_DOUBLE_EQ(l3.rope.low_freq_factor, 1);
  EXPECT_DOUBLE_EQ(l3.rope.high_freq_factor, 4);
  EXPECT_EQ(l3.rope.original_max_position_embeddings, 64);

  auto qwen = ModelConfig::from_file(fs::path(DPO_FIXTURES) / "hf/qwen2/model/config.json");
  EXPECT_EQ(qwen.model_type, "qwen2");
  EXPECT_TRUE(qwen.attention_bias);
  EXPECT_TRUE(qwen.tie_word_embeddings);
  EXPECT_EQ(qwen.head_dim, 8);  // derived: 32 / 4
  EXPECT_DOUBLE_EQ(qwen.rope.theta, 1e6);
  EXPECT_FALSE(qwen.sliding_window.has_value());
}

TEST(ModelConfig, ClassicRopeKeysAndDefaults) {
  json j = base_config();
  j["rope_theta"] = 500000.0;
  j["rope_scaling"] = {{"type", "linear"}, {"factor", 2.0}};
  auto c = parse(j);
  EXPECT_EQ(c.rope.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope.theta, 5e5);
  EXPECT_DOUBLE_EQ(c.rope.factor, 2.0);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.max_position_embeddings, 2048);

  j["rope_scaling"] = {{"rope_type", "dynamic"}, {"factor", 4.0}};
  j["max_position_embeddings"] = 1024;
  c = parse(j);
  EXPECT_EQ(c.rope.type, "dynamic");
  EXPECT_EQ(c.rope.original_max_position_embeddings, 1024);

  j["rope_scaling"] = {{"rope_type", "llama3"},
                       {"factor", 8.0},
                       {"low_freq_factor", 1.0},
                       {"high_freq_factor", 4.0},
                       {"original_max_position_embeddings", 8192}};
  c = parse(j);
  EXPECT_EQ(c.rope.type, "llama3");
  EXPECT_EQ(c.rope.original_max_position_embeddings, 8192);

  j["rope_scaling"] = nullptr;
  EXPECT_EQ(parse(j).rope.type, "default");
}

// yarn and longrope: their keys, transformers' defaults, and the config we write reading back.
TEST(ModelConfig, YarnAndLongropeKeysDefaultsAndRoundTrip) {
  json j = base_config();
  j["max_position_embeddings"] = 4096;
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  auto c = parse(j);
  EXPECT_EQ(c.rope.type, "yarn");
  EXPECT_DOUBLE_EQ(c.rope.factor, 4.0);
  EXPECT_EQ(c.rope.original_max_position_embeddings, 4096);  // max_position_embeddings
  EXPECT_DOUBLE_EQ(c.rope.beta_fast, 32);
  EXPECT_DOUBLE_EQ(c.rope.beta_slow, 1);
  EXPECT_DOUBLE_EQ(c.rope.attention_factor, 0);  // derived from the factor
  EXPECT_TRUE(c.rope.truncate);

  // transformers 5's form; factor null is max_position_embeddings / original; 0 betas default
  j.erase("rope_scaling");
  j["rope_parameters"] = {{"rope_type", "yarn"},      {"rope_theta", 1e6},
                          {"factor", nullptr},        {"original_max_position_embeddings", 1024},
                          {"beta_fast", 0},           {"beta_slow", 0},
                          {"mscale", 0.707},          {"mscale_all_dim", 1.0},
                          {"attention_factor", 1.25}, {"truncate", false}};
  c = parse(j);
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);
  EXPECT_DOUBLE_EQ(c.rope.factor, 4.0);
  EXPECT_DOUBLE_EQ(c.rope.beta_fast, 32);
  EXPECT_DOUBLE_EQ(c.rope.beta_slow, 1);
  EXPECT_DOUBLE_EQ(c.rope.mscale, 0.707);
  EXPECT_DOUBLE_EQ(c.rope.mscale_all_dim, 1.0);
  EXPECT_DOUBLE_EQ(c.rope.attention_factor, 1.25);
  EXPECT_FALSE(c.rope.truncate);
  auto again = ModelConfig::from_json_text(c.to_json_text(), "again");
  EXPECT_EQ(again.rope.type, "yarn");
  EXPECT_EQ(again.rope.factor, c.rope.factor);
  EXPECT_EQ(again.rope.original_max_position_embeddings, 1024);
  EXPECT_EQ(again.rope.mscale, c.rope.mscale);
  EXPECT_EQ(again.rope.mscale_all_dim, c.rope.mscale_all_dim);
  EXPECT_EQ(again.rope.attention_factor, c.rope.attention_factor);
  EXPECT_EQ(again.rope.beta_fast, c.rope.beta_fast);
  EXPECT_EQ(again.rope.beta_slow, c.rope.beta_slow);
  EXPECT_FALSE(again.rope.truncate);

  // longrope: head_dim / 2 = 8 factors each; factor absent is 4096 / 512
  std::vector<double> short_factor = {1, 1.1, 1.2, 1.3, 1.4, 1.5, 1.6, 1.7};
  std::vector<double> long_factor = {2, 3, 4, 5, 6, 7, 8, 9.5};
  j.erase("rope_parameters");
  j["rope_scaling"] = {{"type", "longrope"},
                       {"short_factor", short_factor},
                       {"long_factor", long_factor},
                       {"original_max_position_embeddings", 512}};
  c = parse(j);
  EXPECT_EQ(c.rope.type, "longrope");
  EXPECT_DOUBLE_EQ(c.rope.factor, 8.0);
  EXPECT_EQ(c.rope.short_factor, short_factor);
  EXPECT_EQ(c.rope.long_factor, long_factor);
  again = ModelConfig::from_json_text(c.to_json_text(), "again");
  EXPECT_EQ(again.rope.type, "longrope");
  EXPECT_EQ(again.rope.factor, 8.0);
  EXPECT_EQ(again.rope.original_max_position_embeddings, 512);
  EXPECT_EQ(again.rope.short_factor, short_factor);
  EXPECT_EQ(again.rope.long_factor, long_factor);
  EXPECT_EQ(again.rope.attention_factor, 0);
}

TEST(ModelConfig, YarnAndLongropeErrors) {
  json j = base_config();
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"original_max_position_embeddings", 64}};
  EXPECT_ERROR(j,
               "key \"rope_scaling.factor\": expected a number (required for yarn RoPE), got "
               "nothing (missing)");
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", "4"}};
  EXPECT_ERROR(j, "key \"rope_scaling.factor\": expected a number, got \"4\"");
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"beta_fast", 1}, {"beta_slow", 2}};
  EXPECT_ERROR(j, "key \"rope_scaling.beta_fast\": expected a number above beta_slow, got 1");
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"beta_slow", -1}};
  EXPECT_ERROR(j, "key \"rope_scaling.beta_slow\": expected a positive number, got -1");
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"attention_factor", 0}};
  EXPECT_ERROR(j, "key \"rope_scaling.attention_factor\": expected a positive number, got 0");
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"mscale", "big"}};
  EXPECT_ERROR(j, "key \"rope_scaling.mscale\": expected a number, got \"big\"");
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}, {"truncate", 0}};
  EXPECT_ERROR(j, "key \"rope_scaling.truncate\": expected true or false, got 0");
  j["rope_scaling"] = {
      {"rope_type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 0}};
  EXPECT_ERROR(j,
               "key \"rope_scaling.original_max_position_embeddings\": expected a positive "
               "integer, got 0");

  j.erase("rope_scaling");
  const std::vector<double> eight(8, 1.5);
  j["rope_parameters"] = {{"rope_type", "longrope"}, {"long_factor", eight}};
  EXPECT_ERROR(j,
               "key \"rope_parameters.short_factor\": expected a list of 8 positive numbers "
               "(head_dim / 2; required for longrope RoPE), got nothing (missing)");
  j["rope_parameters"] = {{"rope_type", "longrope"},
                          {"short_factor", eight},
                          {"long_factor", std::vector<double>(7, 1.5)}};
  EXPECT_ERROR(j, "key \"rope_parameters.long_factor\": expected a list of 8 positive numbers");
  j["rope_parameters"] = {{"rope_type", "longrope"},
                          {"short_factor", {1, 1, 1, 1, 1, 1, 1, 0}},
                          {"long_factor", eight}};
  EXPECT_ERROR(j, "key \"rope_parameters.short_factor\": expected a list of 8 positive numbers");
  j["rope_parameters"] = {{"rope_type", "longrope"},
                          {"short_factor", eight},
                          {"long_factor", {1, 1, 1, 1, 1, 1, 1, "x"}}};
  EXPECT_ERROR(j, "key \"rope_parameters.long_factor\": expected a list of 8 positive numbers");
  j["rope_parameters"] = {{"rope_type", "longrope"},
                          {"short_factor", eight},
                          {"long_factor", eight},
                          {"attention_factor", -1.0}};
  EXPECT_ERROR(j, "key \"rope_parameters.attention_factor\": expected a positive number, got -1");
}

TEST(ModelConfig, EosListHeadDimAndRoundTrip) {
  json j = base_config();
  j["eos_token_id"] = {128001, 128008, 128009};
  j["head_dim"] = 32;
  j["model_type"] = "mistral";
  j["sliding_window"] = 4096;
  auto c = parse(j);
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{128001, 128008, 128009}));
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.sliding_window, 4096);
  auto again = ModelConfig::from_json_text(c.to_json_text(), "again");
  EXPECT_EQ(again.eos_token_ids, c.eos_token_ids);
  EXPECT_EQ(again.head_dim, 32);
  EXPECT_EQ(again.model_type, "mistral");
  EXPECT_EQ(again.sliding_window, 4096);
}

// Which layers slide and which rotate, as transformers' configuration classes decide.
TEST(ModelConfig, SlidingWindowAndRopeLayersPerModelType) {
  json j = base_config();  // 2 layers
  j["model_type"] = "mistral";
  auto c = parse(j);  // MistralConfig's default window
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, true}));
  j["sliding_window"] = nullptr;
  EXPECT_FALSE(parse(j).sliding_window.has_value());

  j = base_config();
  j["model_type"] = "qwen2";
  j["sliding_window"] = 16;
  EXPECT_FALSE(parse(j).sliding_window.has_value());  // use_sliding_window false
  j["use_sliding_window"] = true;
  EXPECT_FALSE(parse(j).sliding_window.has_value());  // max_window_layers 28 > 2 layers
  j["max_window_layers"] = 1;
  c = parse(j);
  EXPECT_EQ(c.sliding_window, 16);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{false, true}));
  EXPECT_FALSE(c.layer_is_sliding(0));
  EXPECT_TRUE(c.layer_is_sliding(1));
  j["layer_types"] = {"sliding_attention", "full_attention"};  // given: wins
  EXPECT_EQ(parse(j).sliding_layers, (std::vector<bool>{true, false}));
  EXPECT_TRUE(c.qk_norm == false && c.attention_bias);

  j = base_config();
  j["model_type"] = "qwen3";
  j.erase("head_dim");
  c = parse(j);
  EXPECT_EQ(c.head_dim, 128);  // Qwen3Config's default, not 64 / 4
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.attention_bias);

  j = base_config();
  j["model_type"] = "smollm3";
  j["num_hidden_layers"] = 8;
  c = parse(j);  // every fourth layer without RoPE; tied by default
  EXPECT_EQ(c.rope_layers, (std::vector<bool>{true, true, true, false, true, true, true, false}));
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_FALSE(c.sliding_window.has_value());
  j["use_sliding_window"] = true;
  j["sliding_window"] = 32;  // the layers without RoPE slide
  EXPECT_EQ(parse(j).sliding_layers,
            (std::vector<bool>{false, false, false, true, false, false, false, true}));
  j["no_rope_layers"] = {1, 0, 1, 1, 1, 1, 1, 1};
  c = parse(j);
  EXPECT_FALSE(c.layer_uses_rope(1));
  EXPECT_TRUE(c.layer_uses_rope(3));
  EXPECT_TRUE(c.layer_is_sliding(1));
  auto again = ModelConfig::from_json_text(c.to_json_text(), "again");
  EXPECT_EQ(again.rope_layers, c.rope_layers);
  EXPECT_EQ(again.sliding_layers, c.sliding_layers);
}

TEST(ModelConfig, Errors) {
  EXPECT_NE(std::string([] {
              try {
                ModelConfig::from_json_text("{not json", "cfg.json");
              } catch (const dpo::UserError& e) {
                return std::string(e.what());
              }
              return std::string();
            }())
                .find("cfg.json: not valid JSON"),
            std::string::npos);
  json j = base_config();
  j["model_type"] = "gpt2";
  EXPECT_ERROR(j,
               "model_type 'gpt2' is not supported (supported: llama, mistral, qwen2, qwen3, "
               "smollm3, gemma2, gemma3_text, phi3)");
  j.erase("model_type");
  EXPECT_ERROR(j,
               "key \"model_type\" is missing (supported: llama, mistral, qwen2, qwen3, smollm3, "
               "gemma2, gemma3_text, phi3)");

  j = base_config();
  j.erase("hidden_size");
  EXPECT_ERROR(j, "key \"hidden_size\": expected an integer, got nothing (missing)");
  j = base_config();
  j["vocab_size"] = "big";
  EXPECT_ERROR(j, "key \"vocab_size\": expected an integer, got \"big\"");
  j = base_config();
  j["num_hidden_layers"] = 0;
  EXPECT_ERROR(j, "key \"num_hidden_layers\": expected a positive integer, got 0");
  j = base_config();
  j["num_key_value_heads"] = 3;
  EXPECT_ERROR(j, "num_attention_heads 4 is not a multiple of num_key_value_heads 3");
  j = base_config();
  j["num_attention_heads"] = 6;
  j["num_key_value_heads"] = 6;
  EXPECT_ERROR(j, "hidden_size 64 is not divisible by num_attention_heads 6 (give head_dim)");
  j = base_config();
  // Types transformers knows that dpo does not compute.
  j["rope_scaling"] = {{"rope_type", "proportional"}, {"factor", 4.0}};
  EXPECT_ERROR(j,
               "rope type 'proportional' is not supported (supported: default, linear, dynamic, "
               "llama3, yarn, longrope)");
  j = base_config();
  j["rope_parameters"] = {{"rope_type", "su"}, {"rope_theta", 1e4}};
  EXPECT_ERROR(j, "rope type 'su' is not supported");
  j = base_config();
  j["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}};
  EXPECT_ERROR(j,
               "key \"rope_scaling.original_max_position_embeddings\": expected an integer "
               "(required for llama3 RoPE)");
  j = base_config();
  j["rope_parameters"] = {{"rope_type", "linear"}, {"factor", -1.0}};
  EXPECT_ERROR(j, "key \"rope_parameters.factor\": expected a positive number");
  j = base_config();
  j["eos_token_id"] = "eos";
  EXPECT_ERROR(j, "key \"eos_token_id\": expected an integer, a list of integers or null");
  j = base_config();
  j["tie_word_embeddings"] = 1;
  EXPECT_ERROR(j, "key \"tie_word_embeddings\": expected true or false");
  j = base_config();
  j["model_type"] = "qwen2";
  j["use_sliding_window"] = true;
  j["sliding_window"] = 8;
  j["layer_types"] = {"full_attention"};
  EXPECT_ERROR(j,
               "key \"layer_types\": expected a list of \"full_attention\" or "
               "\"sliding_attention\" (one per layer: 2), got [\"full_attention\"]");
  j["layer_types"] = {"full_attention", "chunked_attention"};
  EXPECT_ERROR(j, "key \"layer_types\": expected a list of");
  j = base_config();
  j["model_type"] = "smollm3";
  j["no_rope_layers"] = {1, 2};
  EXPECT_ERROR(j,
               "key \"no_rope_layers\": expected a list of 0 or 1 (one per layer: 2), got [1,2]");
  j["no_rope_layers"] = nullptr;
  j["no_rope_layer_interval"] = 0;
  EXPECT_ERROR(j, "key \"no_rope_layer_interval\": expected a positive integer, got 0");
  j = base_config();
  j["model_type"] = "mistral";
  j["sliding_window"] = 0;
  EXPECT_ERROR(j, "key \"sliding_window\": expected a positive integer, got 0");
  j = base_config();
  j["hidden_act"] = "gelu";
  EXPECT_ERROR(j, "hidden_act 'gelu' is not supported (supported: silu)");
  j = base_config();
  j["model_type"] = "gemma2";
  j["hidden_activation"] = "relu";
  EXPECT_ERROR(j, "hidden_activation 'relu' is not supported (supported: gelu_pytorch_tanh, gelu)");
  j = base_config();
  j["model_type"] = "gemma3_text";
  j["sliding_window"] = nullptr;
  EXPECT_ERROR(j,
               "key \"sliding_window\": expected a positive integer (gemma's local layers attend "
               "within it)");
  j["sliding_window"] = 8;
  j["use_bidirectional_attention"] = true;
  EXPECT_ERROR(j,
               "key \"use_bidirectional_attention\": true makes an encoder (EmbeddingGemma), not a "
               "causal language model; dpo.cpp trains causal models only");
  j.erase("use_bidirectional_attention");
  j["query_pre_attn_scalar"] = 0;
  EXPECT_ERROR(j, "key \"query_pre_attn_scalar\": expected a positive number");
  j.erase("query_pre_attn_scalar");
  j["attn_logit_softcapping"] = -1.0;
  EXPECT_ERROR(j, "key \"attn_logit_softcapping\": expected a positive number or null");
  j.erase("attn_logit_softcapping");
  j["rope_parameters"] = {
      {"full_attention", {{"rope_type", "default"}, {"rope_theta", 1e6}}},
      {"sliding_attention", {{"rope_type", "linear"}, {"factor", 2.0}, {"rope_theta", 1e4}}}};
  EXPECT_ERROR(j,
               "key \"rope_parameters.sliding_attention\": rope type 'linear' for gemma3's "
               "sliding layers is not supported (supported: default; scaling applies to "
               "full_attention)");
  j["rope_parameters"] = {{"full_attention", 3}};
  EXPECT_ERROR(j, "key \"rope_parameters.full_attention\": expected an object");
}

TEST(ModelConfig, Gemma) {
  json j = base_config();
  j["model_type"] = "gemma2";
  j["num_hidden_layers"] = 4;
  ModelConfig c = parse(j);  // Gemma2Config's defaults
  EXPECT_EQ(c.head_dim, 256);
  EXPECT_TRUE(c.tie_word_embeddings && c.scale_embeddings && c.norm_plus_one && c.sandwich_norms);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_EQ(c.hidden_act, "gelu_pytorch_tanh");
  EXPECT_DOUBLE_EQ(c.query_pre_attn_scalar, 256);
  EXPECT_DOUBLE_EQ(c.attn_logit_softcapping, 50);
  EXPECT_DOUBLE_EQ(c.final_logit_softcapping, 30);
  EXPECT_EQ(c.sliding_window, 4096);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, false, true, false}));
  EXPECT_FALSE(c.local_rope.has_value());
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e4);
  j["attn_logit_softcapping"] = nullptr;  // null: off
  j["final_logit_softcapping"] = 15.0;
  j["hidden_activation"] = "gelu";
  j["head_dim"] = 16;
  j["query_pre_attn_scalar"] = 24;
  c = parse(j);
  EXPECT_DOUBLE_EQ(c.attn_logit_softcapping, 0);
  EXPECT_DOUBLE_EQ(c.final_logit_softcapping, 15);
  EXPECT_EQ(c.hidden_act, "gelu");
  EXPECT_EQ(c.head_dim, 16);
  // The sandwich norms: two more of C per layer.
  ModelConfig llama_like = c;
  llama_like.sandwich_norms = false;
  EXPECT_EQ(c.num_parameters() - llama_like.num_parameters(), 4 * 2 * 64);
  auto again = ModelConfig::from_json_text(c.to_json_text(), "again");
  EXPECT_EQ(again.model_type, "gemma2");
  EXPECT_EQ(again.hidden_act, "gelu");
  EXPECT_DOUBLE_EQ(again.query_pre_attn_scalar, 24);
  EXPECT_DOUBLE_EQ(again.attn_logit_softcapping, 0);
  EXPECT_DOUBLE_EQ(again.final_logit_softcapping, 15);
  EXPECT_EQ(again.sliding_layers, c.sliding_layers);
  EXPECT_EQ(again.num_parameters(), c.num_parameters());

  j = base_config();
  j["model_type"] = "gemma3_text";
  j["num_hidden_layers"] = 7;
  j["sliding_window"] = 32;
  c = parse(j);  // Gemma3TextConfig's defaults: five local layers to one global
  EXPECT_TRUE(c.qk_norm);
  EXPECT_DOUBLE_EQ(c.attn_logit_softcapping, 0);
  EXPECT_DOUBLE_EQ(c.final_logit_softcapping, 0);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, true, true, true, true, false, true}));
  EXPECT_DOUBLE_EQ(c.rope.theta, 1e6);
  ASSERT_TRUE(c.local_rope.has_value());
  EXPECT_DOUBLE_EQ(c.local_rope->theta, 1e4);
  EXPECT_TRUE(c.layer_is_sliding(0));  // layer 0 rotates by local_rope, layer 5 by rope
  EXPECT_FALSE(c.layer_is_sliding(5));
  j["sliding_window_pattern"] = 2;
  j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", 8.0}};  // the global layers' only
  j["rope_local_base_freq"] = 5e3;
  c = parse(j);
  EXPECT_EQ(c.sliding_layers, (std::vector<bool>{true, false, true, false, true, false, true}));
  EXPECT_EQ(c.rope.type, "linear");
  EXPECT_EQ(c.local_rope->type, "default");
  EXPECT_DOUBLE_EQ(c.local_rope->theta, 5e3);
  again = ModelConfig::from_json_text(c.to_json_text(), "again");
  EXPECT_EQ(again.sliding_layers, c.sliding_layers);
  EXPECT_EQ(again.rope.type, "linear");
  EXPECT_DOUBLE_EQ(again.rope.factor, 8);
  EXPECT_DOUBLE_EQ(again.local_rope->theta, 5e3);
  // transformers 5: rope_parameters by layer type.
  j.erase("rope_scaling");
  j.erase("rope_local_base_freq");
  j["rope_parameters"] = {
      {"full_attention", {{"rope_type", "linear"}, {"factor", 4.0}, {"rope_theta", 2e6}}},
      {"sliding_attention", {{"rope_type", "default"}, {"rope_theta", 2e4}}}};
  c = parse(j);
  EXPECT_EQ(c.rope.type, "linear");
  EXPECT_DOUBLE_EQ(c.rope.factor, 4);
  EXPECT_DOUBLE_EQ(c.rope.theta, 2e6);
  EXPECT_DOUBLE_EQ(c.local_rope->theta, 2e4);
  // No sliding layer at all: still a window written back, and layer_types saying so.
  j["layer_types"] = std::vector<std::string>(7, "full_attention");
  c = parse(j);
  EXPECT_FALSE(c.sliding_window.has_value());
  again = ModelConfig::from_json_text(c.to_json_text(), "again");
  EXPECT_FALSE(again.sliding_window.has_value());
}

TEST(ModelConfig, Phi3) {
  json j = base_config();
  j["model_type"] = "phi3";
  j["attention_bias"] = true;  // Phi3 has no biases whatever the key says
  ModelConfig c = parse(j);
  EXPECT_TRUE(c.fused_projections);
  EXPECT_FALSE(c.attention_bias || c.tie_word_embeddings || c.qk_norm);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_FALSE(c.sliding_window.has_value());
  j["sliding_window"] = 7;  // every layer
  EXPECT_EQ(parse(j).sliding_layers, (std::vector<bool>{true, true}));
  // LongRoPE under its old name, with the top-level original length (4096 when absent) winning
  // over the scaling's own, as Phi3Config does.
  j["max_position_embeddings"] = 8192;
  j["rope_scaling"] = {{"type", "su"},
                       {"short_factor", std::vector<double>(8, 1.0)},
                       {"long_factor", std::vector<double>(8, 2.0)},
                       {"original_max_position_embeddings", 1024}};
  c = parse(j);
  EXPECT_EQ(c.rope.type, "longrope");
  EXPECT_EQ(c.rope.original_max_position_embeddings, 4096);
  EXPECT_DOUBLE_EQ(c.rope.factor, 2.0);
  j["original_max_position_embeddings"] = 2048;
  j["rope_scaling"]["type"] = "yarn";  // also read as longrope for phi3
  c = parse(j);
  EXPECT_EQ(c.rope.type, "longrope");
  EXPECT_EQ(c.rope.original_max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(c.rope.factor, 4.0);
  auto again = ModelConfig::from_json_text(c.to_json_text(), "again");
  EXPECT_TRUE(again.fused_projections);
  EXPECT_EQ(again.rope.type, "longrope");
  EXPECT_EQ(again.rope.original_max_position_embeddings, 2048);
  EXPECT_DOUBLE_EQ(again.rope.factor, 4.0);
  EXPECT_EQ(again.sliding_window, 7);
  EXPECT_EQ(again.num_parameters(), c.num_parameters());

  j.erase("rope_scaling");
  j["partial_rotary_factor"] = 0.75;  // Phi-4-mini
  EXPECT_ERROR(j,
               "key \"partial_rotary_factor\": 0.75 (RoPE on part of each head) is not supported "
               "(supported: 1)");
  j.erase("partial_rotary_factor");
  j["rope_parameters"] = {{"rope_type", "default"}, {"partial_rotary_factor", 0.5}};
  EXPECT_ERROR(j, "key \"rope_parameters.partial_rotary_factor\": 0.5 (RoPE on part of each head)");
}
