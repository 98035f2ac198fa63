/**
 * pixelrts: PixelRTS v2 containers, FUSE mounts, one-command QEMU boot, the host ↔ VM
 * channel and H.264 frame export, from Node.js.
 */
export { PixelrtsError, UsageError, isPixelrtsError } from './errors';
export {
  decode, decodeAsync, encode, encodeAsync, writeContainer, readMetadata, gridForLength,
} from './codec';
export type { DecodeOptions, EncodeOptions, EncodeInput, PixelrtsWarning } from './codec';
export { open, Container, kernelFile, initrdFile } from './container';
export type { ContainerFile, ContainerKind, VerifyReport, FileCheck, OpenOptions } from './container';
export {
  findMetadata, validateMetadata, buildMetadata, readSidecar, writeSidecar, classifyName,
} from './metadata';
export type {
  PixelRTSMetadata, SegmentInfo, SegmentInput, CompressionInfo, EncodingInfo, Sidecar,
} from './metadata';
export type { PayloadHandle } from './native';
export { mount, mountTable, containerTable, unmountPath, findFusermount, Mount } from './mount';
export type { MountOptions, MountedFile, FileTable } from './mount';
export type { FuseFileSpec } from './fuse-binding';
export { launchVm, VM } from './vm';
export type { LaunchOptions, LaunchStage, VmExit, ShutdownOptions } from './vm';
export { detectAccel, qemuArgs, withConsole, consoleDevice } from './qemu';
export type { Accel, AccelPreference, AccelChoice, Arch, ChannelKind, NetworkOptions, QemuArgsOptions } from './qemu';
export { QmpClient, QmpError } from './qmp';
export type { QmpEvent, QmpGreeting, QmpConnectOptions, QmpExecuteOptions } from './qmp';
export { Console } from './console';
export type { LineInfo, ConsoleOptions } from './console';
export { Channel } from './channel';
export type { ChannelOptions, RequestOptions, LivenessEvent } from './channel';
export { MESSAGE_TYPES, validateMessage, parseMessageLine, stripEscapes } from './messages';
export type { VmMessage, OutgoingMessage, MessageType, MessageDirection, ValidationResult, InvalidMessage } from './messages';
export { buildDemoImage, buildDemoContainer, defaultCacheDir, DEMO_MARKER, DEMO_CMDLINE } from './demo';
export type { DemoImage, DemoContainer, BuildDemoOptions } from './demo';
export { boot, composeCmdline, describeExit } from './boot';
export type { BootOptions, BootedVm, BootExit, BootStage, BootStageEvent, BootAccel, BootArch } from './boot';
export { listVms, findVm } from './vm-registry';
export type { VmRecord, VmStatus } from './vm-registry';
export {
  createFrameServer, startFrameExport, FrameServer, FOURCC, DEFAULT_TCP, DEFAULT_VSOCK_PORT,
} from './frames';
export type {
  FrameServerOptions, FrameServerStats, FrameServerAddress, FrameEvent, ScanoutEvent, RawFrame, FrameFormat,
  ResolveRequest, Resolver,
} from './frames';
