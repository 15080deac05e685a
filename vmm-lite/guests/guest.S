/*
 * vmm-lite test guest: one 512-byte boot sector, three images.
 *
 * Loaded like a PC BIOS loads a boot sector (0x7c00, real mode, CS = 0; no
 * BIOS services used). Switches to 32-bit protected mode with flat
 * segments, calibrates the TSC against PIT channel 2, wakes the other
 * vCPUs with INIT and SIPI, and then every vCPU rewrites its share of the
 * working set pass after pass while the BSP prints a counter line on COM1.
 * With FLAG_VERIFY (the checker) each vCPU re-reads and verifies its share
 * after each complete write pass.
 *
 * The parameter block at sector offset 0x1dc (PB_OFF) configures a run;
 * vmm-guest-config patches it. README.md documents the layout, the memory
 * map, the serial lines and the exit codes; keep the two in step.
 *
 * Every byte counts: 1 is free. Tricks worth knowing before editing: the
 * GDT's null descriptor is the code before it and the GDTR overlaps the
 * data descriptor and V_BAD; the first push of the BSP writes the SIPI
 * trampoline; the BSP is the only vCPU whose stack is below %ebp.
 *
 * Build-time defaults (cpp): GUEST_WS_MIB, GUEST_PAT_AND, GUEST_PAT_OR,
 * GUEST_RATE_MIB, GUEST_PERIOD_MS, GUEST_CPUS, GUEST_RUN_MS, GUEST_FLAGS.
 */

#ifndef GUEST_WS_MIB
#define GUEST_WS_MIB 0
#endif
#ifndef GUEST_PAT_AND
#define GUEST_PAT_AND 0xffffffff
#endif
#ifndef GUEST_PAT_OR
#define GUEST_PAT_OR 0
#endif
#ifndef GUEST_RATE_MIB
#define GUEST_RATE_MIB 0
#endif
#ifndef GUEST_PERIOD_MS
#define GUEST_PERIOD_MS 10
#endif
#ifndef GUEST_CPUS
#define GUEST_CPUS 1
#endif
#ifndef GUEST_RUN_MS
#define GUEST_RUN_MS 0
#endif
#ifndef GUEST_FLAGS
#define GUEST_FLAGS 0
#endif

#define LOAD      0x7c00
#define PB_OFF    0x1dc             /* parameter block, offset in sector */
#define BASE      (LOAD + PB_OFF - 16)  /* %ebp on every vCPU: V_BAD */

/* Shared variables in the sector (zero at load). */
#define V_BAD     0                 /* pfn of a bad page, 0 = none */
#define V_COUNT   4                 /* periods elapsed */
#define V_PASSES  8                 /* complete passes, all vCPUs */
#define V_NCPU    12                /* vCPUs that entered (ticket) */
/* The parameter block (README.md), at PB_OFF in the sector. */
#define P_MAGIC   16                /* "VMGP" */
#define P_WS      20                /* working set, MiB */
#define P_AND     24                /* pattern: dword = (x & AND) | OR */
#define P_OR      28
#define P_RATE    32                /* MiB/s over all vCPUs, 0 = unbounded */
#define P_PERIOD  36                /* ms between counter lines */
#define P_CPUS    40                /* vCPUs that dirty, 1..16 */
#define P_RUN     44                /* ms until exit(0), 0 = forever */
#define P_FLAGS   48                /* u16, FLAG_* */
/* Shared variables at 0x7e00, written by the BSP before the APs start. */
#define V_PER     52                /* period in TSC/256 units */
#define V_LAST    56                /* TSC/256 at the last period boundary */
#define V_PACE    60                /* TSC cycles per page per vCPU */

#define FLAG_VERIFY 0x8000          /* checker: verify after each pass */
#define FLAG_BREAK  0x0001          /* self-test: verify expects pass k^1 */

#define TRAMP     0x7000            /* SIPI vector 0x07 lands here */
#define PIT_MSB   0x95              /* 0x9500 PIT ticks = 31.97 ms ~ 32 */
#define EXIT_PORT 0x501

	.section .text
	.code16
	.globl	_start
_start:					/* BSP at 0000:7c00, APs at 0700:0c00 */
	cli
	xor	%ax, %ax
	mov	%ax, %ds
	lgdt	gdtr
	inc	%ax
	lmsw	%ax			/* CR0.PE */
	ljmp	$8, $pm32

	.code32
pm32:
	mov	$0x10, %al		/* %ah = 0 */
	mov	%eax, %ds
	mov	%eax, %es
	mov	%eax, %ss
	mov	$(TRAMP + 4), %esp	/* BSP stack: below the trampoline */
	mov	$BASE, %ebp
	push	$1
	pop	%eax
	lock xadd %eax, V_NCPU(%ebp)	/* %eax = this vCPU's index */
	test	%eax, %eax
	jz	bsp
	/* A vCPU beyond `cpus` stays idle: with IF = 0 only an NMI, SMI
	 * or INIT would end this hlt, and nothing sends one. */
	cmp	P_CPUS(%ebp), %eax
	jb	1f
	hlt
1:	lea	8(%eax), %esp		/* AP i's stack: top at (8 + i) * 4 KiB */
	shl	$12, %esp
	jmp	cpu_main

bsp:
	/* The APs start in real mode at 0700:0000: this first push puts
	 * "jmp 0c00" there (0700:0c00 = 0x7c00). */
	push	$0x000bfde9
	mov	$0xfee00300, %edi	/* LAPIC ICR low */
	movl	$0x000c4500, (%edi)	/* INIT, all excluding self */

	/* TSC against PIT channel 2 in mode 0, gated through port 0x61,
	 * three times; the TSC is read before the count starts, so a
	 * preempted vCPU only overestimates: keep the least. The ~100 ms
	 * are also the wait after INIT. */
	mov	$1, %al			/* gate 2 on, speaker off */
	out	%al, $0x61
	mov	$0xa0, %al		/* channel 2, MSB only, mode 0 */
	out	%al, $0x43
	push	$3
	pop	%ecx
	mov	%edi, %esi		/* 0xfee00300: above any result */
1:	rdtsc
	xchg	%eax, %ebx
	mov	$PIT_MSB, %al		/* a new count: OUT low, counting */
	out	%al, $0x42
2:	in	$0x61, %al
	test	$0x20, %al
	jz	2b
	rdtsc
	sub	%ebx, %eax
	cmp	%eax, %esi
	cmova	%eax, %esi
	loop	1b			/* %esi = TSC cycles per 32 ms */

	/* period (TSC/256) = cycles32 * ms / 32 / 256 */
	mov	%esi, %eax
	mull	P_PERIOD(%ebp)
	shrd	$13, %edx, %eax
	mov	%eax, V_PER(%ebp)

	/* cycles per page per vCPU = cycles32 * 1000/32 * cpus / (rate*256)
	 *                          = cycles32 * cpus * 125 / (rate * 1024) */
	xor	%eax, %eax
	mov	P_RATE(%ebp), %ecx
	jecxz	1f
	shl	$10, %ecx
	imul	$125, P_CPUS(%ebp), %eax
	mul	%esi
	div	%ecx
1:	mov	%eax, V_PACE(%ebp)

	rdtsc
	shrd	$8, %edx, %eax
	mov	%eax, V_LAST(%ebp)

	/* One SIPI is enough: INIT was taken 100 ms ago. */
	movl	$0x000c4607, (%edi)	/* SIPI vector 0x07, all excluding self */
	xor	%eax, %eax

	/* Every vCPU, %eax = index i: pages 256+i, 256+i+cpus, ... Frame:
	 * 0(%esp) TSC low at the start of the current pace slot, 4 pass k,
	 * 8 first pfn. */
cpu_main:
	inc	%ah
	push	%eax
	push	$0
	rdtsc
	push	%eax
	xor	%edx, %edx		/* %edx = 0: write; else verify */
mode:
	mov	8(%esp), %ebx		/* %ebx = pfn */
page:
	call	tick
	test	%edx, %edx
	jnz	2f
	/* Rate bound, writes only: page n starts no earlier than n paces
	 * after the first; time lost while descheduled is caught up (by at
	 * most 2^32 TSC cycles: the difference is taken modulo 2^32). */
	rdtsc
	xor	%edx, %edx
	sub	(%esp), %eax
	mov	V_PACE(%ebp), %esi
	cmp	%esi, %eax
	jb	page
	add	%esi, (%esp)
2:	mov	P_WS(%ebp), %eax
	inc	%eax
	shl	$8, %eax		/* first pfn after the working set */
	cmp	%eax, %ebx
	jae	done

	/* Page content: an LCG seeded from (pass, pfn), dword = bswap(x)
	 * masked. FLAG_VERIFY vanishes in the shift; FLAG_BREAK flips k. */
	mov	4(%esp), %esi
	xor	%edx, %esi
	shl	$20, %esi
	xor	%ebx, %esi
	mov	%ebx, %edi
	shl	$12, %edi
	mov	$1024, %ecx
3:	imul	$1664525, %esi, %esi
	inc	%esi
	mov	%esi, %eax
	bswap	%eax
	and	P_AND(%ebp), %eax
	or	P_OR(%ebp), %eax
	test	%edx, %edx
	jnz	4f
	mov	%eax, (%edi)
4:	scasl
	jne	bad
	loop	3b
	add	P_CPUS(%ebp), %ebx
	jmp	page

done:
	xor	P_FLAGS(%ebp), %dx	/* after writing: verify if flagged */
	jnz	mode
	lock incl V_PASSES(%ebp)	/* %edx = 0 again */
	incl	4(%esp)
	jmp	mode

	/* The BSP reports it at its next tick, which for the BSP is now; an
	 * AP carries on meanwhile. */
bad:
	mov	%ebx, V_BAD(%ebp)
	jmp	page

	/* BSP only (the APs' stacks are above %ebp): report a bad page,
	 * print the counter line when a period has passed, end the run. */
tick:
	pusha
	cmp	%ebp, %esp
	ja	9f
	mov	%ebp, %esi
	cmpl	$0, (%esi)
	jne	8f
	lodsl				/* %esi = &V_COUNT */
	rdtsc
	shrd	$8, %edx, %eax
	sub	V_LAST(%ebp), %eax
	xor	%edx, %edx
	divl	V_PER(%ebp)
	test	%eax, %eax
	jz	9f
	add	%eax, V_COUNT(%ebp)
	mull	V_PER(%ebp)
	add	%eax, V_LAST(%ebp)
	push	$'c'
	pop	%eax
	call	pline
	mov	P_RUN(%ebp), %ecx
	dec	%ecx			/* run 0: never */
	mov	V_COUNT(%ebp), %eax
	mull	P_PERIOD(%ebp)
	cmp	%ecx, %eax
	jbe	9f
	xor	%eax, %eax		/* run over: exit code 0 */
exit:
	mov	$EXIT_PORT, %dx
	out	%al, %dx
halt:
	hlt
	jmp	halt
9:	popa
	ret
8:	mov	$0x444142, %eax		/* "BAD" */
	call	pline
	jmp	exit			/* %al = '\n': exit code 10 */

	/* Prints the chars packed in %eax, " %u" for two dwords at %esi,
	 * and "\n". */
pline:
	call	putc
	shr	$8, %eax
	jnz	pline
	push	$10
	pop	%ebx
	push	$2
	pop	%edi
1:	lodsl
	xor	%ecx, %ecx
2:	xor	%edx, %edx
	div	%ebx
	push	%edx
	inc	%ecx
	test	%eax, %eax
	jnz	2b
	push	$(' ' - '0')
	inc	%ecx
3:	pop	%eax
	add	$'0', %al
	call	putc
	loop	3b
	dec	%edi
	jnz	1b
	mov	$10, %al
putc:					/* %al; keeps all but %edx */
	push	%eax
	mov	$0x3fd, %dx
1:	in	%dx, %al
	test	$0x20, %al
	jz	1b
	mov	$0xf8, %dl
	pop	%eax
	out	%al, %dx
	ret

	/* GDT: its null descriptor is whatever 8 bytes precede it. The GDTR
	 * (for a 16-bit lgdt: limit, 24-bit base, an ignored sixth byte)
	 * takes the data descriptor's last two bytes, 0x00cf, as its limit
	 * and the first byte of V_BAD as its sixth. */
	.org	PB_OFF - 16 - 3 - 16
gdt = . - 8
	.quad	0x00cf9a000000ffff	/* 0x08: code, flat 4 GiB */
	.quad	0x00cf92000000ffff	/* 0x10: data, flat 4 GiB */
gdtr = . - 2
	.word	gdt
	.byte	0
	.long	0, 0, 0, 0		/* V_BAD, V_COUNT, V_PASSES, V_NCPU */
params:
	.ascii	"VMGP"
	.long	GUEST_WS_MIB
	.long	GUEST_PAT_AND
	.long	GUEST_PAT_OR
	.long	GUEST_RATE_MIB
	.long	GUEST_PERIOD_MS
	.long	GUEST_CPUS
	.long	GUEST_RUN_MS
	.word	GUEST_FLAGS
	.org	510
	.byte	0x55, 0xaa
