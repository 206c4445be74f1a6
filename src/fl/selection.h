#pragma once
// The building blocks of the methods' expert selection (fl/methods/): which experts a batch
// routes to, and where a budget of experts goes given a score per expert.
// Dimensions: L layers, E experts, K top-k.
#include <cstdint>

#include "fl/fl_options.h"

namespace hf {

class Model;

// The experts routed (top-k) by some valid token of the model's last forward: used (L, E).
void routed_experts(const Model& model, uint8_t* used);

// Marks in chosen (L, E) the experts a budget places, highest score first, among the eligible
// ones (eligible (L, E), nullptr = all). scope layer: `budget` experts in every layer; scope
// model: budget * L experts over all layers, at least min(min_per_layer, eligible in the layer)
// in each layer first (strict routing needs top_k per layer). Ties go to the lower (layer,
// expert). A NaN score is a check failure (the router diverged).
void place_budget(const float* score, const uint8_t* eligible, int L, int E, int budget, BudgetScope scope,
                  int min_per_layer, uint8_t* chosen);

}  // namespace hf
