/*
 * fuzz_vmm_state.c - vmm-lite's machine-state decoders over hostile
 * blobs: the vCPU blob, the VM-wide blob and the UART's. They arrive over
 * the network in a migration, and each is checked in full before the
 * first ioctl, so the decoders run here against fd -1: a blob that passes
 * every check ends in -EBADF at its first ioctl, never in a crash.
 *
 * First byte: bits 0-1 pick the decoder; bit 7 set means "wrap the rest
 * in a valid header" (magic, version, exact body length), which takes the
 * fuzzer straight to the records.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "machine_state.h"
#include "state_blob.h"
#include "uart.h"
#include "vcpu_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vmm_uart *uart;
	uint8_t *blob;
	size_t len;
	uint32_t magic;
	int which, r;

	if (size < 1 || size > (1u << 20))
		return 0;
	which = data[0] & 3;
	magic = which == 1 ? VMM_MACHINE_STATE_MAGIC : VMM_VCPU_STATE_MAGIC;
	len = size - 1 + ((data[0] & 0x80) && which != 2 ? VMM_BLOB_HDR_LEN : 0);
	blob = malloc(len ? len : 1);
	if (!blob)
		return 0;
	if (len != size - 1) {
		vmm_put_le32(blob, magic);
		put16(blob + 4, 1);
		put16(blob + 6, 0);
		vmm_put_le32(blob + 8, (uint32_t)(size - 1));
		memcpy(blob + VMM_BLOB_HDR_LEN, data + 1, size - 1);
	} else {
		memcpy(blob, data + 1, size - 1);
	}
	switch (which) {
	case 0:
	case 3:
		r = vmm_vcpu_state_load(-1, blob, len);
		break;
	case 1:
		r = vmm_machine_state_load(-1, blob, len);
		break;
	default:
		if (!uart && vmm_uart_new(&uart, -1, NULL, NULL))
			__builtin_trap();
		r = vmm_uart_load(uart, blob, len);
		break;
	}
	/* Only an error code or success; the rest is the sanitizers' job. */
	if (r > 0 || r < -4095)
		__builtin_trap();
	free(blob);
	return 0;
}
