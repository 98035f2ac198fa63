/**
 * pixelrts: PixelRTS v2 containers, FUSE mounts, one-command QEMU boot, the host ↔ VM
 * channel and H.264 frame export, from Node.js.
 */
export { PixelrtsError, UsageError, isPixelrtsError } from './errors';
export {
  createFrameServer, startFrameExport, FrameServer, FOURCC, DEFAULT_TCP, DEFAULT_VSOCK_PORT,
} from './frames';
export type {
  FrameServerOptions, FrameServerStats, FrameServerAddress, FrameEvent, ScanoutEvent, RawFrame, FrameFormat,
  ResolveRequest, Resolver,
} from './frames';
