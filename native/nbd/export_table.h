// ExportTable: which files of a container the nbdkit plugin exports, by name, and where each
// one's bytes lie in the container's payload. `pixelrts serve --nbd` works the table out with
// the library (lib/codec/container.ts reads the metadata, segment tables and Infinite Map VATs)
// and hands it to the plugin as a text file (exports=FILE), so the plugin holds no second
// reading of the metadata. The file is
//
//   pixelrts-nbd-exports 1
//   TYPE SHA256|- OFFSET:LENGTH[,OFFSET:LENGTH...]|- NAME
//   ...
//
// one line per export: TYPE without spaces (kernel, disk, data, ...), the file's sha256 in
// lowercase hex or '-' when none is recorded, its extents in the payload in file order ('-'
// for an empty file), and NAME, the rest of the line (NBD export names: 1 to 4096 bytes, no
// NUL or newline). Everything is checked: a malformed line, a duplicate name or an extent past
// the payload is an error naming the line.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/failure.h"

namespace pixelrts::nbd {

struct Extent {
  uint64_t offset;  // in the payload
  uint64_t length;
};

struct Export {
  std::string name;
  std::string type;
  std::string sha256;            // lowercase hex, empty when the container records none
  std::vector<Extent> extents;   // in file order
  std::vector<uint64_t> starts;  // starts[i]: the file offset where extents[i] begins
  uint64_t size = 0;             // the sum of the extents' lengths
};

class ExportTable {
 public:
  // NBD's longest export name.
  static constexpr size_t kMaxName = 4096;

  // Reads and checks the table at `path`.
  static Failure Load(const std::string& path, ExportTable* out);
  // Parses the table's text (`path` only names it in messages).
  static Failure Parse(const std::string& text, const std::string& path, ExportTable* out);

  // Fails when an extent reaches past a payload of `payload_size` bytes.
  Failure check_within(uint64_t payload_size) const;

  const std::vector<Export>& exports() const { return exports_; }
  // The export named `name`, or nullptr.
  const Export* find(const std::string& name) const;
  // The export a client gets when it names none: the first disk-like file, else the first.
  const Export* default_export() const;
  // The names, comma-separated and quoted, for messages.
  std::string names() const;

 private:
  std::string path_;
  std::vector<Export> exports_;
};

}  // namespace pixelrts::nbd
