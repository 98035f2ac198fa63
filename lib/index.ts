/**
 * pixelrts: PixelRTS v2 containers, FUSE mounts, one-command QEMU boot, the host ↔ VM
 * channel and H.264 frame export, from Node.js.
 */
export { PixelrtsError, UsageError, isPixelrtsError } from './errors';
