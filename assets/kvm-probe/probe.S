# The accelerator probe guest (see lib/qemu.ts, detectAccel). QEMU loads it as a 64 KiB BIOS
# image at F000:0000; the CPU starts at the reset vector F000:FFF0, which jumps to `start`.
# It exercises what a booting kernel needs first: memory writes, port I/O, the 8259 PIC and
# 8254 PIT delivering a timer interrupt through the local APIC to a halted CPU, a switch
# into protected mode and back. On success it writes 1 to
# isa-debug-exit (port 0xf4), so QEMU exits with status (1 << 1) | 1 = 3. An accelerator that
# cannot run this (a hanging KVM, a failing MSR set-up) never produces status 3.
# Build: as --32 -o probe.o probe.S && objcopy -O binary -j .text probe.o probe.bin
        .code16
        .intel_syntax noprefix
        .text
start:
        cli
        xor     ax, ax
        mov     ss, ax
        mov     ds, ax
        mov     sp, 0x7000
        lgdt    cs:[gdtr]                         # "unreal mode": enter protected mode just
        mov     eax, cr0                          # long enough to load FS with a flat 4 GiB
        or      al, 1                             # segment, so real-mode code can reach the
        mov     cr0, eax                          # local APIC's registers at 0xfee00000
        mov     bx, 8
        mov     fs, bx
        and     al, 0xfe
        mov     cr0, eax
        xor     bx, bx
        mov     fs, bx
        mov     edi, 0xfee00350                   # LVT LINT0 is masked at reset; make it
        mov     dword ptr fs:[edi], 0x700         # ExtINT so the 8259 reaches the CPU
        mov     word ptr [0x20*4], offset isr     # IVT entry of vector 0x20 (IRQ0 below)
        mov     word ptr [0x20*4+2], 0xf000
        mov     al, 0x11                          # 8259 master: ICW1, edge, cascade, ICW4
        out     0x20, al
        mov     al, 0x20                          # ICW2: IRQ0..7 -> vectors 0x20..0x27
        out     0x21, al
        mov     al, 0x04                          # ICW3: slave on IRQ2
        out     0x21, al
        mov     al, 0x01                          # ICW4: 8086 mode
        out     0x21, al
        mov     al, 0xfe                          # unmask IRQ0 (the PIT) only
        out     0x21, al
        mov     al, 0x34                          # PIT channel 0, lo/hi byte, mode 2
        out     0x43, al
        mov     al, 0xa9                          # divisor 1193: about 1 kHz
        out     0x40, al
        mov     al, 0x04
        out     0x40, al
        sti
wait:
        hlt                                       # the timer interrupt wakes us into isr
        jmp     wait
isr:
        mov     al, 0x20                          # end of interrupt
        out     0x20, al
        mov     al, 0x01                          # success: QEMU exits with status 3
        out     0xf4, al
        cli
stop:
        hlt
        jmp     stop
        .p2align 3
gdt:    .quad   0
        .quad   0x00cf92000000ffff                # selector 8: flat 4 GiB data segment
gdtr:   .word   15
        .long   0xf0000 + gdt                     # linear address (this image is at F000:0000)
