// Binding of the frames concept: what it exports to JavaScript.
#include "common/modules.h"

namespace pixelrts {

void InitFrames(Napi::Env /*env*/, Napi::Object /*exports*/) {}

}  // namespace pixelrts
