// .npy reading and writing (format description in npy.h and docs/npy.md).
//
// Reading is done in three checked steps, each of which only touches bytes already known to exist:
//   1. the preamble: 6 magic bytes, 2 version bytes, a 2-byte (v1) or 4-byte (v2, v3) header length,
//      which must fit in the file and under kNpyMaxHeaderBytes;
//   2. the header, a Python dict literal, parsed by a small recursive-descent parser that accepts
//      exactly the three keys NumPy writes (descr, fortran_order, shape);
//   3. the shape: dims are checked for overflow one by one, their product and the byte count too,
//      and the byte count must equal what the file holds after the header before anything is
//      allocated. So a 100-byte file claiming shape (2^40, 2^40) fails in step 3 with no allocation.
// ReadNpy streams a file through the same steps (reads the header, then the data straight into the
// tensor), so reading a large file needs no second copy.
#include "core/npy.h"

#include <sys/stat.h>

#include <bit>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <string_view>
#include <utility>

namespace mc2 {
namespace {

static_assert(std::endian::native == std::endian::little, "mc2's .npy code assumes a little-endian host");

constexpr uint8_t kMagic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
constexpr size_t kMagicBytes = sizeof(kMagic);
constexpr size_t kHeaderAlign = 64;  // NumPy aligns the data to 64 bytes since 1.14

struct DescrEntry {
  char kind;  // NumPy's type character: 'f', 'i', 'u'
  int bytes;
  DType dtype;
};

constexpr DescrEntry kDescrs[] = {
    {'f', 2, DType::kFloat16}, {'f', 4, DType::kFloat32}, {'f', 8, DType::kFloat64}, {'i', 1, DType::kInt8},
    {'u', 1, DType::kUInt8},   {'i', 4, DType::kInt32},   {'i', 8, DType::kInt64},   {'u', 8, DType::kUInt64},
};

constexpr std::string_view kSupportedDescrs = "<f2, <f4, <f8, |i1, |u1, <i4, <i8, <u8";

template <typename... Args>
Status Invalid(std::string_view where, const Args&... msg) {
  return AclnnError(aclnn::kErrParamInvalid, where, ": ", msg...);
}

template <typename... Args>
Status IoError(std::string_view where, const Args&... msg) {
  return AclnnError(aclnn::kErrRuntime, where, ": ", msg...);
}

// Printable excerpt of untrusted text for an error message.
std::string Excerpt(std::string_view text, size_t max_chars = 80) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < max_chars; ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (text.size() > max_chars) out += "...";
  return out;
}

// The dtype of a descr string such as "<f4", or why it is not supported.
StatusOr<DType> DTypeFromDescr(std::string_view descr, std::string_view where) {
  char order = '=';
  std::string_view code = descr;
  if (!code.empty() && (code[0] == '<' || code[0] == '>' || code[0] == '|' || code[0] == '=')) {
    order = code[0];
    code.remove_prefix(1);
  }
  if (code == "b1" || code == "?") {
    return Invalid(where, "dtype '", Excerpt(descr), "' (bool) is not supported; save arr.astype(np.uint8)");
  }
  for (const DescrEntry& e : kDescrs) {
    if (code.size() == 2 && code[0] == e.kind && code[1] == static_cast<char>('0' + e.bytes)) {
      if (order == '>' && e.bytes > 1) {
        return Invalid(where, "dtype '", Excerpt(descr), "' is big-endian, which is not supported; save arr.astype('<",
                       code, "')");
      }
      return e.dtype;
    }
  }
  return Invalid(where, "unsupported dtype '", Excerpt(descr), "' (supported: ", kSupportedDescrs, ")");
}

int DescrBytes(DType dtype) {
  for (const DescrEntry& e : kDescrs) {
    if (e.dtype == dtype) return e.bytes;
  }
  return 0;
}

// The dict of a .npy header.
struct HeaderFields {
  std::string descr;
  bool fortran_order = false;
  Dims shape;
};

// Recursive-descent parser for the header dict, e.g.
//   {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }
// Accepts what Python's literal_eval would accept for these three keys in any order (either quote
// style, trailing commas, arbitrary whitespace, Python 2's "3L" dims), and nothing else.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, std::string_view where) : text_(text), where_(where) {}

  Status Parse(HeaderFields* out) {
    SkipSpace();
    if (!Consume('{')) return Error("expected '{'");
    bool seen_descr = false, seen_fortran = false, seen_shape = false;
    SkipSpace();
    while (!Consume('}')) {
      std::string key;
      MC2_RETURN_IF_ERROR(ParseString(&key));
      SkipSpace();
      if (!Consume(':')) return Error("expected ':' after a key");
      SkipSpace();
      if (key == "descr") {
        if (seen_descr) return Error("duplicate key 'descr'");
        seen_descr = true;
        if (Peek() == '[') return Invalid(where_, "structured dtypes (a list descr) are not supported");
        MC2_RETURN_IF_ERROR(ParseString(&out->descr));
      } else if (key == "fortran_order") {
        if (seen_fortran) return Error("duplicate key 'fortran_order'");
        seen_fortran = true;
        MC2_RETURN_IF_ERROR(ParseBool(&out->fortran_order));
      } else if (key == "shape") {
        if (seen_shape) return Error("duplicate key 'shape'");
        seen_shape = true;
        MC2_RETURN_IF_ERROR(ParseShape(&out->shape));
      } else {
        return Error(StrCat("unexpected key '", Excerpt(key, 40),
                            "' (a .npy header has exactly 'descr', 'fortran_order' and 'shape')"));
      }
      SkipSpace();
      if (Consume(',')) {
        SkipSpace();
      } else if (Peek() != '}') {
        return Error("expected ',' or '}'");
      }
    }
    SkipSpace();
    if (pos_ != text_.size()) return Error("unexpected text after the dict");
    if (!seen_descr || !seen_fortran || !seen_shape) {
      return Invalid(where_, "bad header: missing key '",
                     !seen_descr ? "descr" : (!seen_fortran ? "fortran_order" : "shape"), "' in '", Excerpt(text_),
                     "'");
    }
    return Status::Ok();
  }

 private:
  // 0 at the end, so no caller reads past the text.
  char Peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool Consume(char c) {
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  static bool IsIdentChar(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  }

  Status Error(std::string_view what) const {
    return Invalid(where_, "bad header (", what, " at byte ", pos_, "): '", Excerpt(text_), "'");
  }

  // 'text' or "text"; escapes never occur in the three values and are refused.
  Status ParseString(std::string* out) {
    const char quote = Peek();
    if (quote != '\'' && quote != '"') return Error("expected a quoted string");
    ++pos_;
    const size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != quote) {
      if (text_[pos_] == '\\') return Error("escape sequences are not supported in strings");
      if (text_[pos_] == '\n') return Error("unterminated string");
      ++pos_;
    }
    if (pos_ >= text_.size()) return Error("unterminated string");
    out->assign(text_.substr(start, pos_ - start));
    ++pos_;
    return Status::Ok();
  }

  Status ParseBool(bool* out) {
    for (const auto& [word, value] : {std::pair<std::string_view, bool>{"True", true}, {"False", false}}) {
      if (text_.substr(pos_, word.size()) == word &&
          (pos_ + word.size() >= text_.size() || !IsIdentChar(text_[pos_ + word.size()]))) {
        pos_ += word.size();
        *out = value;
        return Status::Ok();
      }
    }
    return Error("expected True or False");
  }

  Status ParseDim(int64_t* out) {
    if (Peek() == '-') return Error("negative dim");
    if (Peek() < '0' || Peek() > '9') return Error("expected a dim (a non-negative integer)");
    int64_t v = 0;
    while (Peek() >= '0' && Peek() <= '9') {
      const int digit = Peek() - '0';
      if (v > (std::numeric_limits<int64_t>::max() - digit) / 10) return Error("dim larger than 2^63-1");
      v = v * 10 + digit;
      ++pos_;
    }
    if (Peek() == 'L' || Peek() == 'l') ++pos_;  // Python 2 long literal, seen in old files
    *out = v;
    return Status::Ok();
  }

  // (), (n,), (a, b), (a, b,) ...; "(n)" is an int in Python, not a shape.
  Status ParseShape(Dims* out) {
    if (!Consume('(')) return Error("shape must be a tuple");
    SkipSpace();
    bool had_comma = false;
    int count = 0;
    while (!Consume(')')) {
      if (count == kMaxDims) return Invalid(where_, "shape has more than ", kMaxDims, " dims, mc2's limit");
      int64_t dim = 0;
      MC2_RETURN_IF_ERROR(ParseDim(&dim));
      out->push_back(dim);
      ++count;
      SkipSpace();
      if (Consume(',')) {
        had_comma = true;
        SkipSpace();
      } else if (Peek() != ')') {
        return Error("expected ',' or ')' in shape");
      }
    }
    if (count == 1 && !had_comma) return Error("shape '(n)' is not a tuple, '(n,)' is");
    return Status::Ok();
  }

  std::string_view text_;
  std::string_view where_;
  size_t pos_ = 0;
};

// What the preamble says.
struct Preamble {
  size_t header_start = 0;  // 10 for v1, 12 for v2 and v3
  size_t header_len = 0;
  size_t data_offset() const { return header_start + header_len; }
};

// Checks magic, version and header length against the `total` bytes of the file. `p` holds the
// first `avail` bytes (at least min(total, 12)).
StatusOr<Preamble> ParsePreamble(const uint8_t* p, size_t avail, uint64_t total, std::string_view where) {
  const size_t magic_seen = avail < kMagicBytes ? avail : kMagicBytes;
  if (std::memcmp(p, kMagic, magic_seen) != 0) {
    return Invalid(where, "not a .npy file (it must start with the bytes \\x93NUMPY)");
  }
  if (total < 8 || avail < 8) {
    return Invalid(where, "truncated: ", total, " bytes, shorter than the .npy preamble");
  }
  const int major = p[6], minor = p[7];
  if (major < 1 || major > 3 || minor != 0) {
    return Invalid(where, "unsupported .npy format version ", major, ".", minor, " (1.0, 2.0 and 3.0 are read)");
  }
  Preamble pre;
  pre.header_start = major == 1 ? 10 : 12;
  if (total < pre.header_start || avail < pre.header_start) {
    return Invalid(where, "truncated: ", total, " bytes, shorter than the version ", major, ".0 preamble");
  }
  uint64_t len = static_cast<uint64_t>(p[8]) | static_cast<uint64_t>(p[9]) << 8;
  if (major != 1) len |= static_cast<uint64_t>(p[10]) << 16 | static_cast<uint64_t>(p[11]) << 24;
  if (len > total - pre.header_start) {
    return Invalid(where, "header length ", len, " runs past the end of the file (", total, " bytes)");
  }
  if (len > kNpyMaxHeaderBytes) {
    return Invalid(where, "header length ", len, " is over the limit of ", kNpyMaxHeaderBytes, " bytes");
  }
  pre.header_len = static_cast<size_t>(len);
  return pre;
}

struct Layout {
  DType dtype = DType::kFloat32;
  Dims dims;
  uint64_t data_bytes = 0;
};

// Parses the header text and checks that the `available` bytes after it are exactly the data.
StatusOr<Layout> ParseHeader(std::string_view text, uint64_t available, std::string_view where) {
  HeaderFields fields;
  MC2_RETURN_IF_ERROR(HeaderParser(text, where).Parse(&fields));
  Layout layout;
  MC2_ASSIGN_OR_RETURN(layout.dtype, DTypeFromDescr(fields.descr, where));
  if (fields.fortran_order) {
    return Invalid(where, "fortran_order is True, which is not supported; save np.ascontiguousarray(arr)");
  }
  layout.dims = fields.shape;
  // The product of the non-zero dims must fit even when a zero dim makes the array empty, so that
  // later arithmetic on the dims (strides, numel) cannot overflow.
  int64_t nonzero_product = 1;
  bool has_zero = false;
  for (int64_t d : layout.dims) {
    if (d == 0) {
      has_zero = true;
    } else if (__builtin_mul_overflow(nonzero_product, d, &nonzero_product)) {
      return Invalid(where, "shape ", layout.dims.ToString(), " has more than 2^63-1 elements");
    }
  }
  const int64_t numel = has_zero ? 0 : nonzero_product;
  int64_t bytes = 0;
  if (__builtin_mul_overflow(numel, static_cast<int64_t>(DescrBytes(layout.dtype)), &bytes)) {
    return Invalid(where, "shape ", layout.dims.ToString(), " of ", DTypeName(layout.dtype),
                   " needs more than 2^63-1 bytes");
  }
  layout.data_bytes = static_cast<uint64_t>(bytes);
  if (available < layout.data_bytes) {
    return Invalid(where, "truncated: shape ", layout.dims.ToString(), " of ", DTypeName(layout.dtype), " needs ",
                   layout.data_bytes, " data bytes but the file has ", available, " after the header");
  }
  if (available > layout.data_bytes) {
    return Invalid(where, "wrong data size: shape ", layout.dims.ToString(), " of ", DTypeName(layout.dtype),
                   " needs ", layout.data_bytes, " data bytes but the file has ", available, " after the header");
  }
  return layout;
}

// Header bytes (preamble included) for a tensor of `descr` and `dims`.
std::vector<uint8_t> HeaderBytes(std::string_view descr, const Dims& dims) {
  std::string dict = StrCat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (");
  for (int i = 0; i < dims.size(); ++i) dict += StrCat(i ? ", " : "", dims[i]);
  dict += dims.size() == 1 ? ",), }" : "), }";
  // The dict, space padding and a final newline, so the data starts on a 64-byte boundary.
  size_t preamble = 10;
  size_t padded = (preamble + dict.size() + 1 + kHeaderAlign - 1) / kHeaderAlign * kHeaderAlign - preamble;
  if (padded > 0xffff) {
    preamble = 12;
    padded = (preamble + dict.size() + 1 + kHeaderAlign - 1) / kHeaderAlign * kHeaderAlign - preamble;
  }
  std::vector<uint8_t> out(kMagic, kMagic + kMagicBytes);
  out.push_back(preamble == 10 ? 1 : 2);
  out.push_back(0);
  for (size_t i = 0; i < preamble - 8; ++i) out.push_back(static_cast<uint8_t>(padded >> (8 * i)));
  out.insert(out.end(), dict.begin(), dict.end());
  out.insert(out.end(), padded - dict.size() - 1, ' ');
  out.push_back('\n');
  return out;
}

// The data bytes of `tensor` in its .npy form, appended to `out`.
void AppendData(const HostTensor& tensor, std::vector<uint8_t>* out) {
  const int64_t n = tensor.numel();
  if (tensor.dtype() == DType::kBFloat16) {
    const size_t start = out->size();
    out->resize(start + static_cast<size_t>(n) * 4);
    for (int64_t i = 0; i < n; ++i) {
      const float f = Bf16ToFloat(tensor.data_as<uint16_t>()[i]);
      std::memcpy(out->data() + start + static_cast<size_t>(i) * 4, &f, 4);
    }
  } else if (tensor.dtype() == DType::kInt4) {
    for (int64_t i = 0; i < n; ++i) {
      out->push_back(static_cast<uint8_t>(UnpackInt4(tensor.data_as<uint8_t>(), i)));
    }
  } else if (n > 0) {
    const uint8_t* src = tensor.data_as<uint8_t>();
    out->insert(out->end(), src, src + tensor.bytes());
  }
}

// Index of flat element `flat` of `dims`, as "(i, j, k)".
std::string IndexString(const Dims& dims, int64_t flat) {
  Dims idx;
  idx.resize(dims.size());
  for (int d = dims.size() - 1; d >= 0; --d) {
    idx[d] = dims[d] > 0 ? flat % dims[d] : 0;
    flat = dims[d] > 0 ? flat / dims[d] : 0;
  }
  return idx.ToString();
}

std::string_view AcceptedFor(DType wanted) {
  switch (wanted) {
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kFloat32:
    case DType::kFloat64:
      return "float16, float32, float64 (bfloat16 values are saved as float32)";
    case DType::kInt4:
      return "int8 with values in [-8, 7] (int4 values are saved as int8)";
    case DType::kInt8:
      return "int8";
    case DType::kUInt8:
      return "uint8";
    case DType::kInt32:
      return "int32";
    case DType::kInt64:
      return "int64";
    case DType::kUInt64:
      return "uint64";
  }
  return "nothing";
}

// Closes a FILE* on every return path.
struct FileCloser {
  void operator()(std::FILE* f) const {
    if (f) std::fclose(f);
  }
};

}  // namespace

std::string_view NpyDescr(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
    case DType::kBFloat16:
      return "<f4";
    case DType::kFloat16:
      return "<f2";
    case DType::kFloat64:
      return "<f8";
    case DType::kInt8:
    case DType::kInt4:
      return "|i1";
    case DType::kUInt8:
      return "|u1";
    case DType::kInt32:
      return "<i4";
    case DType::kInt64:
      return "<i8";
    case DType::kUInt64:
      return "<u8";
  }
  return "";
}

StatusOr<HostTensor> ParseNpy(const uint8_t* data, size_t size) {
  constexpr std::string_view kWhere = "npy";
  if (data == nullptr && size != 0) return Invalid(kWhere, "null data with size ", size);
  static const uint8_t kEmpty[1] = {0};
  if (data == nullptr) data = kEmpty;
  MC2_ASSIGN_OR_RETURN(const Preamble pre, ParsePreamble(data, size, size, kWhere));
  const std::string_view text(reinterpret_cast<const char*>(data) + pre.header_start, pre.header_len);
  MC2_ASSIGN_OR_RETURN(const Layout layout, ParseHeader(text, size - pre.data_offset(), kWhere));
  HostTensor tensor(layout.dtype, layout.dims);
  if (layout.data_bytes > 0) std::memcpy(tensor.data(), data + pre.data_offset(), layout.data_bytes);
  return tensor;
}

std::vector<uint8_t> SerializeNpy(const HostTensor& tensor) {
  std::vector<uint8_t> out = HeaderBytes(NpyDescr(tensor.dtype()), tensor.dims());
  AppendData(tensor, &out);
  return out;
}

StatusOr<HostTensor> ReadNpy(const std::string& path) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (!file) return Invalid(path, "cannot open for reading: ", std::strerror(errno));
  struct stat st;
  if (fstat(fileno(file.get()), &st) != 0) return IoError(path, "cannot stat: ", std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return Invalid(path, "not a regular file");
  const uint64_t total = static_cast<uint64_t>(st.st_size);

  uint8_t head[12] = {};
  const size_t head_bytes = total < sizeof(head) ? static_cast<size_t>(total) : sizeof(head);
  if (std::fread(head, 1, head_bytes, file.get()) != head_bytes) return IoError(path, "read failed");
  MC2_ASSIGN_OR_RETURN(const Preamble pre, ParsePreamble(head, head_bytes, total, path));

  std::string text(pre.header_len, '\0');
  if (std::fseek(file.get(), static_cast<long>(pre.header_start), SEEK_SET) != 0 ||
      std::fread(text.data(), 1, text.size(), file.get()) != text.size()) {
    return IoError(path, "read of the header failed");
  }
  MC2_ASSIGN_OR_RETURN(const Layout layout, ParseHeader(text, total - pre.data_offset(), path));
  HostTensor tensor(layout.dtype, layout.dims);
  if (layout.data_bytes > 0 && std::fread(tensor.data(), 1, layout.data_bytes, file.get()) != layout.data_bytes) {
    return IoError(path, "read of ", layout.data_bytes, " data bytes failed (file changed while read?)");
  }
  return tensor;
}

Status WriteNpy(const std::string& path, const HostTensor& tensor) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "wb"));
  if (!file) return Invalid(path, "cannot open for writing: ", std::strerror(errno));
  const std::vector<uint8_t> header = HeaderBytes(NpyDescr(tensor.dtype()), tensor.dims());
  bool ok = std::fwrite(header.data(), 1, header.size(), file.get()) == header.size();
  if (tensor.dtype() == DType::kBFloat16 || tensor.dtype() == DType::kInt4) {
    std::vector<uint8_t> data;
    AppendData(tensor, &data);
    ok = ok && (data.empty() || std::fwrite(data.data(), 1, data.size(), file.get()) == data.size());
  } else if (tensor.bytes() > 0) {
    ok = ok && std::fwrite(tensor.data(), 1, tensor.bytes(), file.get()) == tensor.bytes();
  }
  if (!ok) return IoError(path, "write failed: ", std::strerror(errno));
  if (std::fclose(file.release()) != 0) return IoError(path, "close failed: ", std::strerror(errno));
  return Status::Ok();
}

StatusOr<HostTensor> ConvertForOperator(const HostTensor& loaded, DType wanted, const std::string& name) {
  const DType found = loaded.dtype();
  auto mismatch = [&] {
    return Invalid(name, "dtype is ", DTypeName(found), " but ", DTypeName(wanted), " is wanted; accepted: ",
                   AcceptedFor(wanted));
  };
  if (IsFloating(wanted)) {
    if (!IsFloating(found)) return mismatch();
    if (found == wanted) return loaded;
    return loaded.CastTo(wanted);  // round half to even
  }
  if (wanted == DType::kInt4) {
    if (found == DType::kInt4) return loaded;
    if (found != DType::kInt8) return mismatch();
    HostTensor packed(DType::kInt4, loaded.dims());
    const int8_t* src = loaded.data_as<int8_t>();
    for (int64_t i = 0; i < loaded.numel(); ++i) {
      if (src[i] < -8 || src[i] > 7) {
        return Invalid(name, "element ", IndexString(loaded.dims(), i), " is ", static_cast<int>(src[i]),
                       ", outside int4's range [-8, 7]");
      }
      PackInt4(packed.data_as<uint8_t>(), i, src[i]);
    }
    return packed;
  }
  if (found != wanted) return mismatch();
  return loaded;
}

}  // namespace mc2
