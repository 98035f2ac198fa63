// One Init function per native concept; addon.cc calls each to fill `exports`.
#pragma once

#include <napi.h>

namespace pixelrts {

void InitCodec(Napi::Env env, Napi::Object exports);
void InitRemote(Napi::Env env, Napi::Object exports);
void InitFuse(Napi::Env env, Napi::Object exports);
void InitFrames(Napi::Env env, Napi::Object exports);
void InitScreen(Napi::Env env, Napi::Object exports);
void InitNet(Napi::Env env, Napi::Object exports);

}  // namespace pixelrts
