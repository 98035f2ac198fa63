// What other native parts may reach of the frames binding: the server behind a JavaScript
// FrameServer object, for publishers that live in native code (native/screen).
#pragma once

#include <napi.h>

#include <memory>

#include "frames/frame_server.h"

namespace pixelrts {

// The server of a FrameServer object made by this addon instance; nullptr for anything else.
// Shared ownership: the server outlives the JS object as long as a publisher holds it (its
// threads stop at close() all the same, and PublishRetained then returns false).
std::shared_ptr<frames::FrameServer> FrameServerFrom(Napi::Value value);

}  // namespace pixelrts
