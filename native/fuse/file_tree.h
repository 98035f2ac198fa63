// The inode table of a mounted container: directories, files made of extents of the payload,
// and files whose bytes are held inline (metadata.json). Built once, validated, then never
// changed, so the FUSE worker threads read it without locks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/js_error.h"

namespace pixelrts {

// Bytes [offset, offset + length) of the payload.
struct Extent {
  uint64_t offset;
  uint64_t length;
};

class FileTree {
 public:
  enum class Kind { kDirectory, kExtentFile, kInlineFile };

  static constexpr uint64_t kRootIno = 1;

  struct Node {
    Kind kind;
    uint64_t ino;
    uint64_t parent = kRootIno;   // the root is its own parent
    uint64_t size = 0;            // files: bytes; directories: 0
    uint32_t nlink = 1;           // directories: 2 + subdirectories
    std::vector<Extent> extents;  // kExtentFile, adjacent extents merged
    std::vector<uint64_t> starts; // kExtentFile: file offset where extents[i] begins
    std::string content;          // kInlineFile
    // kDirectory: (name, ino), sorted by name, so readdir offsets stay stable.
    std::vector<std::pair<std::string, uint64_t>> children;
  };

  // Collects paths, checks each one, then freezes the tree.
  class Builder {
   public:
    explicit Builder(uint64_t payload_size);

    // A file whose bytes are `extents` of the payload, in order. Path like "/boot/vmlinuz".
    Failure add_extent_file(const std::string& path, const std::vector<Extent>& extents);
    // A file holding `content` itself.
    Failure add_inline_file(const std::string& path, std::string content);

    std::shared_ptr<const FileTree> build();

   private:
    Failure add(const std::string& path, Node node);

    uint64_t payload_size_;
    std::vector<Node> nodes_;  // nodes_[ino - 1]; ino 1 is the root
  };

  // The node for `ino`, or nullptr for an inode number this tree never issued.
  const Node* find(uint64_t ino) const;
  // The child `name` of directory `parent`, or nullptr.
  const Node* lookup(const Node& parent, const std::string& name) const;

  uint64_t node_count() const { return nodes_.size(); }
  uint64_t total_bytes() const { return total_bytes_; }

 private:
  explicit FileTree(std::vector<Node> nodes);

  std::vector<Node> nodes_;
  uint64_t total_bytes_ = 0;
};

}  // namespace pixelrts
