// What the addon keeps per instance (worker threads load their own instance): the one slot
// Node-API gives an addon (napi_set_instance_data), shared by the parts that need it.
#pragma once

#include <napi.h>

namespace pixelrts {

struct AddonData {
  Napi::FunctionReference payload_handle;  // PayloadHandle's constructor (payload_handle.cc)
  Napi::FunctionReference error_class;     // PixelrtsError, handed over by lib/native.ts (js_error.h)
  Napi::FunctionReference frame_server;    // FrameServer's constructor (frames_module.cc), to recognise its objects
};

inline AddonData* GetAddonData(Napi::Env env) { return env.GetInstanceData<AddonData>(); }

}  // namespace pixelrts
