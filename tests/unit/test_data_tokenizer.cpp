// The byte260 tokenizer: every byte string round-trips; specials frame and pad.
#include <gtest/gtest.h>

#include "model/tokenizer.h"
#include "util/check.h"

namespace hf {
namespace {

TEST(DataTokenizer, RoundTripsEveryByte) {
  std::string all;
  for (int b = 0; b < 256; b++) all += static_cast<char>(b);
  all += "State of the Union, 1790 \xE2\x80\x94 caf\xC3\xA9";
  std::vector<int32_t> ids = encode(all);
  ASSERT_EQ(ids.size(), all.size());
  for (int b = 0; b < 256; b++) EXPECT_EQ(ids[b], b);
  EXPECT_EQ(decode(ids), all);
}

TEST(DataTokenizer, SpecialsFrameAndAreDropped) {
  std::vector<int32_t> ids = encode("hi", true, true);
  EXPECT_EQ(ids, (std::vector<int32_t>{kBosToken, 'h', 'i', kEosToken}));
  ids.push_back(kPadToken);
  ids.insert(ids.begin() + 1, kClsToken);
  EXPECT_EQ(decode(ids), "hi");  // BOS, CLS dropped; EOS ends the text, PAD after it ignored
  EXPECT_EQ(kByteVocab, 260);
  EXPECT_EQ(kPadToken, 256);
}

TEST(DataTokenizer, OutOfVocabularyIdIsABug) {
  std::vector<int32_t> bad = {'a', kByteVocab};
  EXPECT_THROW(decode(bad), Error);
}

}  // namespace
}  // namespace hf
