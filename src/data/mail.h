#pragma once
// Turns a raw RFC 822 message into the text a spam classifier may fairly see.
//
// Kept: the Subject header and the body. Dropped: every other header — Received, From,
// Return-Path, Message-ID, X-* and the rest name relays, lists and filters, and in the
// SpamAssassin corpus they give the label away (list servers carry ham, spam tools stamp
// their verdicts).
// The body: MIME multipart messages are split at their boundaries; text/plain and text/html
// parts are kept (quoted-printable and base64 decoded, HTML tags and <style>/<script>
// blocks stripped, &amp;-style entities for & < > " ' and space decoded); every other part
// (attachments, images) is replaced by one line "[attachment: <type>]" so its presence is
// kept but not its bytes. A body without a Content-Type is HTML when it opens with <html
// (in its first 400 bytes), else plain text; undeclared MIME parts are found by their
// boundary lines. Character sets are not converted: bytes pass through as they are.
// Runs of blank lines become one.
#include <string>

namespace hf {

std::string clean_mail(const std::string& raw);

}  // namespace hf
