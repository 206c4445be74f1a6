#include "data/mail.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <vector>

#include "util/strf.h"

namespace hf {

namespace {

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

struct Header {
  std::string name;  // lower case
  std::string value;
};

// Splits "headers \n\n body"; folded header lines (leading space or tab) are joined.
void split_message(const std::string& raw, std::vector<Header>* headers, std::string* body) {
  size_t pos = 0;
  std::string line;
  for (;;) {
    size_t nl = raw.find('\n', pos);
    std::string l = raw.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!l.empty() && l.back() == '\r') l.pop_back();
    pos = nl == std::string::npos ? raw.size() : nl + 1;
    if (l.empty()) break;
    if ((l[0] == ' ' || l[0] == '\t') && !headers->empty()) {
      headers->back().value += " " + trim(l);
    } else if (l.rfind("From ", 0) == 0 && headers->empty()) {
      continue;  // the mbox envelope line
    } else {
      size_t colon = l.find(':');
      if (colon == std::string::npos) {  // not a header: there was no header block
        pos = 0;
        headers->clear();
        break;
      }
      headers->push_back({lower(trim(l.substr(0, colon))), trim(l.substr(colon + 1))});
    }
    if (nl == std::string::npos) break;
  }
  *body = raw.substr(pos);
}

std::string header(const std::vector<Header>& hs, const char* name) {
  for (const Header& h : hs)
    if (h.name == name) return h.value;
  return "";
}

// A parameter of a structured header: boundary="abc" in a Content-Type.
std::string header_param(const std::string& value, const char* param) {
  std::string lv = lower(value);
  std::string key = std::string(param) + "=";
  size_t p = lv.find(key);
  if (p == std::string::npos) return "";
  p += key.size();
  if (p < value.size() && value[p] == '"') {
    size_t end = value.find('"', p + 1);
    return value.substr(p + 1, end == std::string::npos ? std::string::npos : end - p - 1);
  }
  size_t end = value.find_first_of("; \t", p);
  return value.substr(p, end == std::string::npos ? std::string::npos : end - p);
}

std::string decode_base64(const std::string& in) {
  std::string out;
  unsigned acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else continue;  // line breaks, padding, junk
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  return out;
}

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string decode_quoted_printable(const std::string& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); i++) {
    if (in[i] != '=') {
      out += in[i];
      continue;
    }
    if (i + 1 < in.size() && (in[i + 1] == '\n' || in[i + 1] == '\r')) {  // soft line break
      i += (in[i + 1] == '\r' && i + 2 < in.size() && in[i + 2] == '\n') ? 2 : 1;
    } else if (i + 2 < in.size() && hexval(in[i + 1]) >= 0 && hexval(in[i + 2]) >= 0) {
      out += static_cast<char>(hexval(in[i + 1]) * 16 + hexval(in[i + 2]));
      i += 2;
    } else {
      out += '=';
    }
  }
  return out;
}

// Tags out, <style>/<script>/<head> content out, block tags become line breaks.
std::string strip_html(const std::string& in) {
  static const char* kEntities[][2] = {{"&nbsp;", " "}, {"&amp;", "&"}, {"&lt;", "<"},
                                       {"&gt;", ">"},   {"&quot;", "\""}, {"&#39;", "'"}};
  std::string low = lower(in), out;
  for (size_t i = 0; i < in.size();) {
    if (in[i] == '<') {
      for (const char* block : {"<style", "<script", "<head"}) {
        if (low.compare(i, std::strlen(block), block) == 0) {
          std::string close = std::string("</") + (block + 1);
          size_t end = low.find(close, i);
          i = end == std::string::npos ? in.size() : end;
          break;
        }
      }
      size_t end = in.find('>', i);
      if (end == std::string::npos) break;
      std::string tag = low.substr(i, std::min<size_t>(4, end - i));
      if (tag.rfind("<br", 0) == 0 || tag.rfind("<p", 0) == 0 || tag.rfind("</p", 0) == 0 ||
          tag.rfind("<div", 0) == 0 || tag.rfind("<tr", 0) == 0 || tag.rfind("<li", 0) == 0)
        out += '\n';
      i = end + 1;
      continue;
    }
    if (in[i] == '&') {
      bool done = false;
      for (auto& e : kEntities) {
        if (low.compare(i, std::strlen(e[0]), e[0]) == 0) {
          out += e[1];
          i += std::strlen(e[0]);
          done = true;
          break;
        }
      }
      if (done) continue;
    }
    out += in[i++];
  }
  return out;
}

// Some spam is MIME without saying so (no Content-Type header): a "--X" line followed by a
// Content-Type line marks X as the boundary.
std::string implied_boundary(const std::string& body) {
  std::string low = lower(body);
  for (size_t p = low.find("\ncontent-type:"); p != std::string::npos; p = low.find("\ncontent-type:", p + 1)) {
    size_t start = body.rfind('\n', p - 1);
    start = start == std::string::npos ? 0 : start + 1;
    std::string prev = trim(body.substr(start, p - start));
    if (prev.size() > 2 && prev.compare(0, 2, "--") == 0) return prev.substr(2);
  }
  return "";
}

// One MIME entity (a whole message or a part) to text, appended to out.
void entity_text(const std::vector<Header>& hs, const std::string& body, int depth, std::string* out) {
  std::string ctype = header(hs, "content-type");
  std::string type = lower(trim(ctype.substr(0, ctype.find(';'))));
  if (type.empty())  // undeclared: HTML if it starts like HTML, else plain text
    type = lower(body.substr(0, 400)).find("<html") != std::string::npos ? "text/html" : "text/plain";
  std::string encoding = lower(header(hs, "content-transfer-encoding"));

  std::string boundary = ctype.empty() ? implied_boundary(body) : header_param(ctype, "boundary");
  if ((type.rfind("multipart/", 0) == 0 || ctype.empty()) && depth < 8) {
    if (!boundary.empty()) {
      std::string delim = "--" + boundary;
      size_t p = body.find(delim);
      while (p != std::string::npos) {
        size_t start = body.find('\n', p);
        if (start == std::string::npos || body.compare(p + delim.size(), 2, "--") == 0) break;  // closing
        size_t next = body.find(delim, start);
        std::string part = body.substr(start + 1, next == std::string::npos ? std::string::npos : next - start - 1);
        std::vector<Header> phs;
        std::string pbody;
        split_message(part, &phs, &pbody);
        entity_text(phs, pbody, depth + 1, out);
        p = next;
      }
      return;
    }
  }
  if (type == "message/rfc822" && depth < 8) {
    std::vector<Header> inner;
    std::string inner_body;
    split_message(body, &inner, &inner_body);
    std::string subject = header(inner, "subject");
    if (!subject.empty()) *out += "Subject: " + subject + "\n";
    entity_text(inner, inner_body, depth + 1, out);
    return;
  }
  if (type != "text/plain" && type != "text/html") {
    *out += "[attachment: " + type + "]\n";
    return;
  }
  std::string text = body;
  if (encoding.find("base64") != std::string::npos) text = decode_base64(text);
  else if (encoding.find("quoted-printable") != std::string::npos) text = decode_quoted_printable(text);
  if (type == "text/html") text = strip_html(text);
  *out += text;
  *out += '\n';
}

// Trailing spaces off, CRs out, at most one blank line in a row, no blank lines at the ends.
std::string tidy(const std::string& in) {
  std::string out;
  int newlines = 0;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t nl = in.find('\n', pos);
    std::string l = in.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? in.size() : nl + 1;
    l.erase(std::remove(l.begin(), l.end(), '\r'), l.end());
    l = l.substr(0, l.find_last_not_of(" \t") + 1);
    if (l.find_first_not_of(" \t") == std::string::npos) {
      newlines++;
      continue;
    }
    if (!out.empty()) out += newlines > 0 ? "\n\n" : "\n";
    newlines = 0;
    out += l;
  }
  return out;
}

}  // namespace

std::string clean_mail(const std::string& raw) {
  std::vector<Header> headers;
  std::string body, text;
  split_message(raw, &headers, &body);
  text = "Subject: " + header(headers, "subject") + "\n\n";
  entity_text(headers, body, 0, &text);
  return tidy(text);
}

}  // namespace hf
