/**
 * pixelrts: PixelRTS v2 containers, FUSE mounts, one-command QEMU boot, the host ↔ VM
 * channel and H.264 frame export, from Node.js.
 */
export { PixelrtsError, UsageError, isPixelrtsError, PIXELRTS_ERROR_CODES } from './errors';
export type { PixelrtsErrorCode } from './errors';
export {
  decode, decodeAsync, encode, encodeAsync, readMetadata, gridForLength,
} from './codec/codec';
export { writeContainer } from './codec/writer';
export type { WriteInput, WriteOptions, WriteProgress } from './codec/writer';
export type { DecodeOptions, EncodeOptions, EncodeInput, PixelrtsWarning } from './codec/codec';
export { open, Container, kernelFile, initrdFile } from './codec/container';
export type { ContainerFile, ContainerKind, DecodeSource, VerifyReport, FileCheck, OpenOptions, ReadOptions } from './codec/container';
export {
  findMetadata, validateMetadata, buildMetadata, readSidecar, writeSidecar, classifyName,
} from './codec/metadata';
export type {
  PixelRTSMetadata, SegmentInfo, SegmentInput, CompressionInfo, EncodingInfo, Sidecar,
} from './codec/metadata';
export type { PayloadHandle } from './native';
export { mount, mountTable, containerTable, unmountPath, findFusermount, Mount } from './fuse/mount';
export type { MountEvents, MountOptions, MountedFile, FileTable } from './fuse/mount';
export type { FuseFileSpec } from './fuse/binding';
export { launchVm, VM } from './vm/vm';
export type { LaunchOptions, LaunchStage, VmEvents, VmExit, ShutdownOptions, VncEndpoint } from './vm/vm';
export { detectAccel, qemuArgs, withConsole, consoleDevice, loopbackForward, cmdlineConfigText } from './vm/qemu';
export type { Accel, AccelPreference, AccelChoice, Arch, ChannelKind, Drive, FirmwareChoice, GuestForward, NetworkOptions, QemuArgsOptions } from './vm/qemu';
export type { DatagramNetwork } from './vm/qemu';
export { joinNetwork, networkStats } from './net/network';
export type { NetworkPort, JoinOptions, NetworkStats } from './net/network';
export { networkAddress, checkNetworkName, MAX_VMS } from './net/addressing';
export type { NetworkAddress } from './net/addressing';
export type { NativeSwitchStats, NativePortStats } from './net/binding';
export { QmpClient, QmpError } from './vm/qmp';
export type { QmpClientEvents, QmpEvent, QmpGreeting, QmpConnectOptions, QmpExecuteOptions, QmpExecutor } from './vm/qmp';
export { createScreen, pngSize } from './screen/screen';
export type { Screen, ScreenSize } from './screen/screen';
export { startDisplay, Display } from './screen/display';
export { startView, ViewServer, codecString } from './view/server';
export type { ViewOptions, ViewEvents } from './view/server';
export { ScanoutSubscriber } from './frames/subscriber';
export type { SubscribedFrame, SubscriberEvents } from './frames/subscriber';
export { qcodeForKeyCode } from './screen/keymap';
export { pointerEvents } from './screen/input';
export type { DisplayOptions, DisplayStats, DisplayEvents } from './screen/display';
export { createInput } from './screen/input';
export type { Input, ClickOptions, PointerButton } from './screen/input';
export { keysForText, keysForCombo } from './screen/keymap';
export type { TypedKey } from './screen/keymap';
export { Console } from './vm/console';
export type { LineInfo, ConsoleEvents, ConsoleOptions } from './vm/console';
export { Channel } from './vm/channel';
export type { ChannelEvents, ChannelOptions, RequestOptions, LivenessEvent } from './vm/channel';
export { MESSAGE_TYPES, validateMessage, parseMessageLine, stripEscapes } from './vm/messages';
export type { VmMessage, OutgoingMessage, MessageType, MessageDirection, ValidationResult, InvalidMessage } from './vm/messages';
export { buildDemoImage, buildDemoContainer, defaultCacheDir, DEMO_MARKER, DEMO_CMDLINE } from './demo/image';
export type { DemoImage, DemoContainer, BuildDemoOptions } from './demo/image';
export { boot, composeCmdline, describeExit, EXPOSED_ADDRESS } from './boot/boot';
export type { BootOptions, BootedVm, BootExit, BootStage, BootStageEvent, BootAccel, BootArch, BootFirmware } from './boot/boot';
export { commitDisks } from './boot/commit';
export type { CommitDisk, CommitOptions } from './boot/commit';
export type { DiskOverlay, OverlayIdentity } from './boot/overlay';
export type { Snapshot, Snapshots } from './boot/snapshots';
export { listVms, findVm } from './boot/registry';
export { serveContainer, ContainerServer, ipxeScript, parseRange } from './serve/server';
export { fetchContainer, isUrl } from './remote/fetch';
export type { FetchOptions, FetchProgress, FetchedContainer } from './remote/fetch';
export { openRemoteFile, listRemoteCache, pruneRemoteCache } from './remote/remote-file';
export type { RemoteFile, RemoteFileOptions, RemoteStats, RemoteCacheEntry } from './remote/remote-file';
export { pull } from './remote/pull';
export type { PullOptions, PullResult } from './remote/pull';
export { openRemoteSource } from './boot/remote-source';
export type { RemoteSource, RemoteSourceOptions } from './boot/remote-source';
export { readLayout, streamRanges } from './codec/layout';
export type { ContainerLayout } from './codec/layout';
export type { ServeOptions, ServeEvents } from './serve/server';
export { startNbd, NbdServer, nbdkitPluginPath } from './serve/nbd';
export type { NbdOptions, NbdExport, NbdEvents } from './serve/nbd';
export type { VmRecord, VmStatus } from './boot/registry';
export {
  createFrameServer, startFrameExport, FrameServer, FOURCC, DEFAULT_TCP, DEFAULT_VSOCK_PORT, FRAME_LIMITS, FRAME_LIMIT_FLAGS,
} from './frames/server';
export type {
  FrameServerOptions, FrameServerStats, FrameServerAddress, FrameServerEvents, FrameServerError, ConnectionEvent, DisconnectEvent,
  FrameEvent, ScanoutEvent, RawFrame, FrameFormat,
  ResolveRequest, Resolver,
} from './frames/server';
