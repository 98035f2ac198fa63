// FUSE mounts exist on Linux only (libfuse3); elsewhere this file compiles to nothing.
#if defined(__linux__)

#include "fuse/file_tree.h"

#include <algorithm>

namespace pixelrts {

namespace {

constexpr size_t kNameMax = 255;  // what statfs reports as f_namemax

Failure BadPath(const std::string& path, const std::string& why) {
  return Failure::make("ERR_PIXELRTS_FUSE_FILES",
                       "mount file table: path '" + path + "' " + why +
                           "; give each file a path of non-empty components separated by '/', "
                           "without '.' or '..'");
}

// Splits "/a/b" or "a/b" into components; empty when the path is malformed.
bool SplitPath(const std::string& path, std::vector<std::string>* parts, std::string* why) {
  if (path.find('\0') != std::string::npos) {
    *why = "contains a NUL byte";
    return false;
  }
  size_t pos = path.empty() || path[0] != '/' ? 0 : 1;
  while (pos <= path.size()) {
    size_t end = path.find('/', pos);
    if (end == std::string::npos) end = path.size();
    std::string part = path.substr(pos, end - pos);
    if (part.empty() || part == "." || part == "..") {
      *why = part.empty() ? "has an empty component" : "has a '" + part + "' component";
      return false;
    }
    if (part.size() > kNameMax) {
      *why = "has a component longer than 255 bytes";
      return false;
    }
    parts->push_back(std::move(part));
    pos = end + 1;
  }
  if (parts->empty()) {
    *why = "names no file";
    return false;
  }
  return true;
}

}  // namespace

FileTree::Builder::Builder(uint64_t payload_size) : payload_size_(payload_size) {
  Node root;
  root.kind = Kind::kDirectory;
  root.ino = kRootIno;
  nodes_.push_back(std::move(root));
}

Failure FileTree::Builder::add_extent_file(const std::string& path, const std::vector<Extent>& extents) {
  Node node;
  node.kind = Kind::kExtentFile;
  for (size_t i = 0; i < extents.size(); i++) {
    const Extent& e = extents[i];
    if (e.offset > payload_size_ || e.length > payload_size_ - e.offset) {
      return Failure::make("ERR_PIXELRTS_FUSE_FILES",
                           "mount file table: extent " + std::to_string(i) + " of '" + path + "' is [" +
                               std::to_string(e.offset) + ", +" + std::to_string(e.length) +
                               ") but the payload holds " + std::to_string(payload_size_) +
                               " bytes; the container's file table does not match its payload");
    }
    if (e.length == 0) continue;
    // A file of an Infinite Map container is one extent per 4 KiB cluster; neighbouring
    // clusters merge so a large read becomes few iovecs.
    if (!node.extents.empty() && node.extents.back().offset + node.extents.back().length == e.offset) {
      node.extents.back().length += e.length;
    } else {
      node.starts.push_back(node.size);
      node.extents.push_back(e);
    }
    node.size += e.length;
  }
  return add(path, std::move(node));
}

Failure FileTree::Builder::add_inline_file(const std::string& path, std::string content) {
  Node node;
  node.kind = Kind::kInlineFile;
  node.size = content.size();
  node.content = std::move(content);
  return add(path, std::move(node));
}

Failure FileTree::Builder::add(const std::string& path, Node node) {
  std::vector<std::string> parts;
  std::string why;
  if (!SplitPath(path, &parts, &why)) return BadPath(path, why);

  // Walk (creating directories) down to the parent; children stay unsorted until build().
  uint64_t dir = kRootIno;
  for (size_t i = 0; i + 1 < parts.size(); i++) {
    uint64_t next = 0;
    for (const auto& child : nodes_[dir - 1].children) {
      if (child.first == parts[i]) next = child.second;
    }
    if (next != 0 && nodes_[next - 1].kind != Kind::kDirectory) {
      return BadPath(path, "goes through '" + parts[i] + "', which is a file");
    }
    if (next == 0) {
      Node sub;
      sub.kind = Kind::kDirectory;
      sub.ino = nodes_.size() + 1;
      sub.parent = dir;
      next = sub.ino;
      nodes_[dir - 1].children.emplace_back(parts[i], next);
      nodes_.push_back(std::move(sub));
    }
    dir = next;
  }
  for (const auto& child : nodes_[dir - 1].children) {
    if (child.first == parts.back()) return BadPath(path, "appears twice in the file table");
  }
  node.ino = nodes_.size() + 1;
  node.parent = dir;
  nodes_[dir - 1].children.emplace_back(parts.back(), node.ino);
  nodes_.push_back(std::move(node));
  return Failure::none();
}

std::shared_ptr<const FileTree> FileTree::Builder::build() {
  for (Node& n : nodes_) {
    if (n.kind != Kind::kDirectory) continue;
    std::sort(n.children.begin(), n.children.end());
    n.nlink = 2;
    for (const auto& child : n.children) {
      if (nodes_[child.second - 1].kind == Kind::kDirectory) n.nlink++;
    }
  }
  return std::shared_ptr<const FileTree>(new FileTree(std::move(nodes_)));
}

FileTree::FileTree(std::vector<Node> nodes) : nodes_(std::move(nodes)) {
  for (const Node& n : nodes_) total_bytes_ += n.size;
}

const FileTree::Node* FileTree::find(uint64_t ino) const {
  if (ino < 1 || ino > nodes_.size()) return nullptr;
  return &nodes_[ino - 1];
}

const FileTree::Node* FileTree::lookup(const Node& parent, const std::string& name) const {
  auto it = std::lower_bound(parent.children.begin(), parent.children.end(), name,
                             [](const std::pair<std::string, uint64_t>& c, const std::string& n) { return c.first < n; });
  if (it == parent.children.end() || it->first != name) return nullptr;
  return &nodes_[it->second - 1];
}

}  // namespace pixelrts

#endif  // __linux__
