// The pixelrts nbdkit plugin: a container's files as read-only NBD exports, one per file, by
// name (`nbdinfo --list`), read through the codec's bounded, verified PayloadSource
// (payload_opener.h) as a FUSE mount reads them. `pixelrts serve --nbd` starts nbdkit with it:
//
//   nbdkit [--filter=cow] nbdkit-pixelrts-plugin.so container=x.rts.png exports=TABLE
//     payload-size=N [stored-size=N] [compression=none|auto] [transposed=false] [cache-entry=FILE]
//     [parent=PID]
//
// Written against nbdkit's C plugin API, version 2, thread model PARALLEL (PayloadSource is
// thread-safe; requests of every connection run at once). No pwrite: the exports are
// read-only (a client that needs writes gets them from nbdkit's cow filter, in memory or a
// temporary file, never in the container). Each failure says what went wrong and what to do
// (nbdkit_error) and hands the client a deliberate errno (nbdkit_set_error): EIO for a block that
// fails its check, never its bytes.
#include <nbdkit-plugin.h>

#include <sys/stat.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "nbd/export_reader.h"
#include "nbd/export_table.h"
#include "nbd/parent_watch.h"
#include "nbd/payload_opener.h"

#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

namespace pixelrts::nbd {
namespace {

// Configuration (set by .config before any thread runs, read-only after).
PayloadConfig config;
std::string exports_path;
bool have_payload_size = false;
bool have_stored_size = false;
int64_t parent_pid = 0;  // parent=: exit at once when that process (nbdkit's parent) exits

// Made in .config_complete (the table) and .after_fork (the payload and its readers: the
// payload's decode threads must start in the process that serves, after nbdkit forked).
ExportTable table;
std::shared_ptr<PayloadSource> payload;
std::vector<std::unique_ptr<ExportReader>> readers;

void Report(const Failure& f) { nbdkit_error("%s (%s)", f.message.c_str(), f.code.c_str()); }

// Runs a callback body, turning an exception the standard library throws into an nbdkit error
// (nothing may unwind into nbdkit's C).
template <typename F, typename R>
R Guarded(const char* what, R failed, F&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    nbdkit_error("pixelrts: %s: out of memory", what);
    nbdkit_set_error(ENOMEM);
  } catch (const std::exception& e) {
    nbdkit_error("pixelrts: %s: %s", what, e.what());
    nbdkit_set_error(EIO);
  }
  return failed;
}

int Config(const char* key, const char* value) {
  return Guarded("config", -1, [&] {
    const std::string k = key;
    if (k == "container") {
      config.container = value;
    } else if (k == "exports") {
      exports_path = value;
    } else if (k == "cache-entry") {
      config.cache_entry = value;
    } else if (k == "payload-size") {
      if (nbdkit_parse_uint64_t("payload-size", value, &config.payload_size) == -1) return -1;
      have_payload_size = true;
    } else if (k == "stored-size") {
      if (nbdkit_parse_uint64_t("stored-size", value, &config.stored_size) == -1) return -1;
      have_stored_size = true;
    } else if (k == "compression") {
      const std::string v = value;
      if (v != "none" && v != "auto") {
        nbdkit_error("compression=%s: expected none (the payload is stored as is) or auto (zlib or zstd, sniffed)", value);
        return -1;
      }
      config.compressed = v == "auto";
    } else if (k == "parent") {
      if (nbdkit_parse_int64_t("parent", value, &parent_pid) == -1) return -1;
      if (parent_pid <= 0) {
        nbdkit_error("parent=%s: expected the pid of the process that starts nbdkit", value);
        return -1;
      }
    } else if (k == "transposed") {
      const int b = nbdkit_parse_bool(value);
      if (b == -1) return -1;
      config.transposed = b == 1;
    } else {
      nbdkit_error("unknown parameter '%s'; `nbdkit pixelrts --help` (or nbdkit PLUGIN.so --help) lists them", key);
      return -1;
    }
    return 0;
  });
}

int ConfigComplete() {
  return Guarded("config_complete", -1, [&] {
    if (config.container.empty() || exports_path.empty() || !have_payload_size) {
      nbdkit_error("container=, exports= and payload-size= are required; `pixelrts serve x.rts.png --nbd` "
                   "works them out and starts nbdkit with them");
      return -1;
    }
    struct stat st;
    if (stat(config.container.c_str(), &st) != 0) {
      nbdkit_error("container=%s: %s; give the path of a .rts.png file", config.container.c_str(), std::strerror(errno));
      return -1;
    }
    if (!S_ISREG(st.st_mode)) {
      nbdkit_error("container=%s: not a regular file; give the path of a .rts.png file", config.container.c_str());
      return -1;
    }
    if (!have_stored_size) config.stored_size = config.payload_size;
    Failure f = ExportTable::Load(exports_path, &table);
    if (f.ok()) f = table.check_within(config.payload_size);
    if (!f.ok()) {
      Report(f);
      return -1;
    }
    return 0;
  });
}

int AfterFork() {
  return Guarded("after_fork", -1, [&] {
    Failure f = parent_pid > 0 ? WatchParent(static_cast<pid_t>(parent_pid)) : Failure::none();
    if (!f.ok()) {
      Report(f);
      return -1;
    }
    OpenedPayload opened;
    f = OpenPayload(config, &opened);
    if (!f.ok()) {
      Report(f);
      return -1;
    }
    payload = opened.source;
    for (const Export& e : table.exports()) {
      readers.push_back(std::make_unique<ExportReader>(payload, &e, opened.verified_reads));
    }
    nbdkit_debug("pixelrts: %s: %zu exports, %s reads", config.container.c_str(), readers.size(),
                 opened.verified_reads ? "hash-tree verified" : "sha256-checked");
    return 0;
  });
}

void Cleanup() {
  // Wakes any read still waiting and joins the decode threads before nbdkit unloads the code.
  if (payload) payload->cancel();
  readers.clear();
  payload.reset();
}

int ListExports(int /*readonly*/, int /*is_tls*/, struct nbdkit_exports* exports) {
  for (const Export& e : table.exports()) {
    const std::string description = e.type + ", " + std::to_string(e.size) + " bytes";
    if (nbdkit_add_export(exports, e.name.c_str(), description.c_str()) == -1) return -1;
  }
  return 0;
}

const char* DefaultExport(int /*readonly*/, int /*is_tls*/) {
  const Export* e = table.default_export();
  return e == nullptr ? nullptr : e->name.c_str();
}

ExportReader* ReaderFor(const Export* e) {
  for (auto& r : readers) {
    if (&r->file() == e) return r.get();
  }
  return nullptr;
}

void* Open(int /*readonly*/) {
  return Guarded("open", static_cast<void*>(nullptr), [&]() -> void* {
    const char* asked = nbdkit_export_name();
    const std::string name = asked == nullptr ? std::string() : asked;
    const Export* e = name.empty() ? table.default_export() : table.find(name);
    ExportReader* reader = e == nullptr ? nullptr : ReaderFor(e);
    if (reader == nullptr) {
      nbdkit_error("%s has no export \"%s\"; its exports are %s (nbdinfo --list nbd://HOST:PORT lists them)",
                   config.container.c_str(), name.c_str(), table.names().c_str());
      nbdkit_set_error(ENOENT);
      return nullptr;
    }
    Failure f = reader->check();
    if (!f.ok()) {
      nbdkit_error("%s: %s (%s)", config.container.c_str(), f.message.c_str(), f.code.c_str());
      nbdkit_set_error(EIO);
      return nullptr;
    }
    return reader;
  });
}

int64_t GetSize(void* handle) { return static_cast<int64_t>(static_cast<ExportReader*>(handle)->file().size); }

// Says why a read (or cache request) failed, naming the container once, and hands the client `rc`.
int Failed(const ExportReader* reader, int rc, const std::string& why) {
  if (!why.empty()) {
    const bool named = why.find(config.container) != std::string::npos;  // the codec's failures name it
    nbdkit_error("%s%s\"%s\" %s", named ? "" : config.container.c_str(), named ? "" : ": ", reader->file().name.c_str(), why.c_str());
  }
  nbdkit_set_error(rc);
  return -1;
}

int Zero(void*) { return 0; }
int One(void*) { return 1; }

int Pread(void* handle, void* buf, uint32_t count, uint64_t offset, uint32_t /*flags*/) {
  const auto* reader = static_cast<const ExportReader*>(handle);
  std::string why;
  const int rc = Guarded("pread", EIO, [&] { return reader->read(static_cast<uint8_t*>(buf), offset, count, &why); });
  return rc == 0 ? 0 : Failed(reader, rc, why);
}

int CanCache(void*) { return NBDKIT_CACHE_NATIVE; }

int Cache(void* handle, uint32_t count, uint64_t offset, uint32_t /*flags*/) {
  const auto* reader = static_cast<const ExportReader*>(handle);
  std::string why;
  const int rc = Guarded("cache", EIO, [&] { return reader->prefetch(offset, count, &why); });
  return rc == 0 ? 0 : Failed(reader, rc, why);
}

const char* ExportDescription(void* handle) {
  // nbdkit copies the string; the type is enough (the size goes with the export anyway).
  return static_cast<ExportReader*>(handle)->file().type.c_str();
}

nbdkit_plugin MakePlugin() {
  nbdkit_plugin p{};
  p.name = "pixelrts";
  p.longname = "pixelrts: the files of a .rts.png container as read-only NBD exports";
  p.version = "1";
  p.description = "Exports each file of a PixelRTS container by name, read through pixelrts' verified decoder.";
  p.config = Config;
  p.config_complete = ConfigComplete;
  p.config_help =
      "container=<FILE>     (required) the .rts.png container\n"
      "exports=<FILE>       (required) the export table (written by `pixelrts serve --nbd`)\n"
      "payload-size=<N>     (required) the payload's size in bytes\n"
      "stored-size=<N>      bytes of pixel stream holding it (default payload-size)\n"
      "compression=none|auto  the stored payload is compressed (auto: zlib or zstd)\n"
      "transposed=<BOOL>    the legacy Hilbert curve\n"
      "cache-entry=<FILE>   decode into this decoded cache entry, band by band (else in memory)\n"
      "parent=<PID>         exit at once (clients cut off) when this process, nbdkit's parent, exits";
  p.magic_config_key = "container";
  p.after_fork = AfterFork;
  p.cleanup = Cleanup;
  p.list_exports = ListExports;
  p.default_export = DefaultExport;
  p.open = Open;
  p.get_size = GetSize;
  p.export_description = ExportDescription;
  p.can_write = Zero;
  p.can_flush = Zero;
  p.can_trim = Zero;
  p.can_zero = Zero;
  p.is_rotational = Zero;
  p.can_multi_conn = One;
  p.can_cache = CanCache;
  p.cache = Cache;
  p.pread = Pread;
  p.errno_is_preserved = 0;
  return p;
}

}  // namespace
}  // namespace pixelrts::nbd

static nbdkit_plugin plugin = pixelrts::nbd::MakePlugin();

NBDKIT_REGISTER_PLUGIN(plugin)
