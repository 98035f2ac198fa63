/**
 * What a file looks like from its first bytes: a kernel QEMU can boot directly (x86 bzImage,
 * arm64 Image, an EFI-stub PE), or something else a segment might hold by mistake (an ISO, a
 * cpio archive, an ELF vmlinux, a disk image), so that boot can refuse it with a message that
 * names what it found, before QEMU starts.
 */
import type { Arch } from '../vm/qemu';

export type ImageKind =
  | 'bzImage' | 'arm64-image' | 'pe' | 'elf' | 'iso' | 'cpio' | 'gzip' | 'zstd' | 'xz' | 'qcow2' | 'mbr' | 'unknown';

/** Bytes identify() needs to see every kind (an ISO's descriptor sits at 32 KiB + 1). */
export const IDENTIFY_BYTES = 0x8006;

export interface Identified {
  kind: ImageKind;
  /** The architecture the header names (kernels only). */
  arch?: Arch;
  /** In words, for messages: "an x86 bzImage kernel", "an ISO 9660 image", … */
  description: string;
}

const at = (b: Uint8Array, offset: number, text: string): boolean =>
  b.length >= offset + text.length && Buffer.from(b.buffer, b.byteOffset + offset, text.length).toString('latin1') === text;

/** Identifies `head`, the first bytes of a file (IDENTIFY_BYTES of them, or all there are). */
export function identify(head: Uint8Array): Identified {
  // x86 boot protocol: "HdrS" at 0x202 (bzImage; also EFI-stub kernels, which start with MZ).
  if (at(head, 0x202, 'HdrS')) return { kind: 'bzImage', arch: 'x86_64', description: 'an x86 bzImage kernel' };
  // arm64 Image: magic "ARM\x64" at 0x38 (EFI-stub ones start with MZ as well).
  if (at(head, 0x38, 'ARM\x64')) return { kind: 'arm64-image', arch: 'aarch64', description: 'an arm64 Image kernel' };
  if (at(head, 0, 'MZ')) return { kind: 'pe', description: 'a PE/EFI executable without a Linux boot header' };
  if (at(head, 0, '\x7fELF')) return { kind: 'elf', description: 'an ELF file (an uncompressed vmlinux?)' };
  if (at(head, 0x8001, 'CD001')) return { kind: 'iso', description: 'an ISO 9660 image (a CD-ROM)' };
  if (at(head, 0, '070701') || at(head, 0, '070702')) return { kind: 'cpio', description: 'a cpio archive (an initrd?)' };
  if (at(head, 0, '\x1f\x8b')) return { kind: 'gzip', description: 'gzip data (a compressed initrd?)' };
  if (at(head, 0, '\x28\xb5\x2f\xfd')) return { kind: 'zstd', description: 'zstd data (a compressed initrd?)' };
  if (at(head, 0, '\xfd7zXZ\x00')) return { kind: 'xz', description: 'xz data (a compressed initrd?)' };
  if (at(head, 0, 'QFI\xfb')) return { kind: 'qcow2', description: 'a qcow2 disk image' };
  if (head.length >= 512 && head[510] === 0x55 && head[511] === 0xaa) return { kind: 'mbr', description: 'a disk image (it has a boot sector)' };
  return { kind: 'unknown', description: 'nothing pixelrts recognises' };
}

/** True for the kinds QEMU boots with -kernel. */
export function isKernel(kind: ImageKind): boolean {
  return kind === 'bzImage' || kind === 'arm64-image';
}

/** Bytes firmwareFor() reads: the MBR, the GPT header and 128 partition entries. */
export const PARTITION_TABLE_BYTES = 2 * 512 + 128 * 128;

// The EFI System Partition's type GUID, C12A7328-F81F-11D2-BA4B-00A0C93EC93B, as GPT stores it.
const ESP_TYPE = Buffer.from('28732ac11ff8d211ba4b00a0c93ec93b', 'hex');

export type Firmware = 'bios' | 'uefi';

/**
 * The firmware a raw disk image needs, from its partition table: UEFI when it has an EFI
 * System Partition and its MBR holds no boot code (nothing a BIOS could start); BIOS otherwise.
 * `head` is its first PARTITION_TABLE_BYTES (GPT entries assumed at LBA 2, where every
 * partitioning tool puts them).
 */
export function firmwareFor(head: Uint8Array): { firmware: Firmware; reason: string } {
  const b = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const bootCode = b.length >= 440 && b.subarray(0, 440).some((x) => x !== 0);
  let esp = false;
  if (at(b, 512, 'EFI PART')) {
    for (let e = 1024; e + 128 <= Math.min(b.length, PARTITION_TABLE_BYTES); e += 128) {
      if (b.subarray(e, e + 16).equals(ESP_TYPE)) esp = true;
    }
  }
  if (esp && !bootCode) return { firmware: 'uefi', reason: 'the disk has an EFI System Partition and no BIOS boot code' };
  if (esp) return { firmware: 'bios', reason: 'the disk has BIOS boot code (and an EFI System Partition: --firmware uefi boots that instead)' };
  return { firmware: 'bios', reason: bootCode ? 'the disk has BIOS boot code' : 'the disk has no EFI System Partition' };
}
