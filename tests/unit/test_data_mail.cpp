// Corpus parsing helpers: mail cleaning keeps subject and body and drops the headers that
// leak the label; the JSON field reader; SHA-256 against the standard test vectors.
#include <gtest/gtest.h>

#include "data/json_fields.h"
#include "data/mail.h"
#include "data/sha256.h"
#include "util/check.h"

namespace hf {
namespace {

const char* kRaw =
    "From spammer@example.com  Thu Aug 22 12:36:23 2002\n"
    "Return-Path: <spammer@example.com>\n"
    "Received: from relay.example.net (relay [10.0.0.1])\n"
    "\tby mail.example.org (Postfix) with ESMTP id 123\n"
    "X-Spam-Status: Yes, hits=12.3\n"
    "List-Id: <exmh-workers.redhat.com>\n"
    "Subject: Cheap offer,\n"
    "  only today\n"
    "Message-Id: <abc@relay.example.net>\n"
    "Content-Type: multipart/alternative; boundary=\"XYZ\"\n"
    "\n"
    "preamble\n"
    "--XYZ\n"
    "Content-Type: text/plain; charset=us-ascii\n"
    "Content-Transfer-Encoding: quoted-printable\n"
    "\n"
    "Buy now =E2=80=94 half price, soft=\n"
    "break.\n"
    "\n"
    "\n"
    "\n"
    "Bye\n"
    "--XYZ\n"
    "Content-Type: text/html\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "PGh0bWw+PHN0eWxlPnAge308L3N0eWxlPjxwPkhlbGxvICZhbXA7IHdlbGNvbWU8L3A+PC9odG1sPg==\n"
    "--XYZ\n"
    "Content-Type: image/gif; name=\"a.gif\"\n"
    "Content-Transfer-Encoding: base64\n"
    "\n"
    "R0lGODlhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=\n"
    "--XYZ--\n";

TEST(DataMail, KeepsSubjectAndBodyDropsRouting) {
  std::string t = clean_mail(kRaw);
  EXPECT_EQ(t.rfind("Subject: Cheap offer, only today\n\n", 0), 0u) << t;
  for (const char* leak : {"Received", "Return-Path", "X-Spam", "List-Id", "Message-Id", "relay.example.net",
                           "spammer@", "--XYZ", "Content-Type", "R0lGOD", "preamble"})
    EXPECT_EQ(t.find(leak), std::string::npos) << leak << " in:\n" << t;
  EXPECT_NE(t.find("Buy now \xE2\x80\x94 half price, softbreak.\n\nBye"), std::string::npos) << t;  // QP, blank runs
  EXPECT_NE(t.find("Hello & welcome"), std::string::npos) << t;   // base64 HTML, tags and <style> out
  EXPECT_EQ(t.find("p {}"), std::string::npos) << t;
  EXPECT_NE(t.find("[attachment: image/gif]"), std::string::npos) << t;
}

TEST(DataMail, PlainMessageAndUndeclaredMime) {
  EXPECT_EQ(clean_mail("Subject: hi\nFrom: a@b\n\nline one\r\nline two\n"), "Subject: hi\n\nline one\nline two");
  // Spam that is MIME without a Content-Type header still loses its part headers.
  std::string t = clean_mail("Subject: x\n\nThis is a MIME Message\n\n--B1\nContent-Type: text/plain\n\nreal text\n--B1--\n");
  EXPECT_EQ(t, "Subject: x\n\nreal text");
}

TEST(DataJson, TopLevelFields) {
  auto f = json_object_fields(
      R"({"id":"00001","group":"easy-ham-1","checksum":{"type":"MD5","value":"7c5"},"n":12,"ok":true,"z":null,)"
      R"("text":"a\"b\\c\n\u00e9\ud83d\ude00 [x]","list":[1,{"k":"]"}]})",
      "test");
  EXPECT_EQ(f["id"], "00001");
  EXPECT_EQ(f["group"], "easy-ham-1");
  EXPECT_EQ(f.count("checksum"), 0u);
  EXPECT_EQ(f.count("list"), 0u);
  EXPECT_EQ(f["n"], "12");
  EXPECT_EQ(f["ok"], "true");
  EXPECT_EQ(f["z"], "");
  EXPECT_EQ(f["text"], "a\"b\\c\n\xC3\xA9\xF0\x9F\x98\x80 [x]");
}

TEST(DataJson, MalformedNamesTheSource) {
  for (const char* bad : {"{\"a\":\"x\"", "[1,2]", "{\"a\" 1}", "{\"a\":\"x\"} trailing", "{\"a\":\"\\q\"}"}) {
    try {
      json_object_fields(bad, "corpus/file.json");
      ADD_FAILURE() << bad;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("corpus/file.json: malformed JSON"), std::string::npos) << e.what();
    }
  }
}

TEST(DataSha256, StandardVectors) {
  EXPECT_EQ(sha256_hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  Sha256 s;  // a million 'a', fed in uneven pieces
  std::string chunk(999, 'a');
  for (int i = 0; i < 1001; i++) s.update(chunk);
  s.update(std::string(1000000 - 999 * 1001, 'a'));
  EXPECT_EQ(s.hex(), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

}  // namespace
}  // namespace hf
