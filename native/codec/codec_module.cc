// Binding of the codec concept: what it exports to JavaScript.
#include "common/modules.h"

namespace pixelrts {

void InitCodec(Napi::Env /*env*/, Napi::Object /*exports*/) {}

}  // namespace pixelrts
