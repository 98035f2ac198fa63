// Binding of the fuse concept: what it exports to JavaScript.
#include "common/modules.h"

namespace pixelrts {

void InitFuse(Napi::Env /*env*/, Napi::Object /*exports*/) {}

}  // namespace pixelrts
