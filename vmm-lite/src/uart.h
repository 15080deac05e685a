/*
 * uart.h: a 16550A UART (the PC's COM1 at 0x3f8, IRQ 4). Output goes to a
 * file descriptor byte by byte as the guest writes it, so a reader can
 * timestamp it; input is queued by the VMM with vmm_uart_input().
 */
#ifndef VMM_UART_H
#define VMM_UART_H

#include <stddef.h>
#include <stdint.h>

#define VMM_UART_COM1_BASE 0x3f8
#define VMM_UART_COM1_IRQ 4
#define VMM_UART_PORTS 8

struct vmm_uart;

/* Raises or lowers the UART's interrupt line. */
typedef void (*vmm_uart_irq_fn)(void *opaque, int level);

/*
 * Creates a UART that writes to `out_fd` (-1 drops output; the fd stays
 * the caller's). Returns 0 and sets *out, or -ENOMEM.
 */
int vmm_uart_new(struct vmm_uart **out, int out_fd, vmm_uart_irq_fn irq,
		 void *irq_opaque);
/* Port I/O at offset 0..7 from the base; `*val` in or out. Thread-safe. */
void vmm_uart_io(struct vmm_uart *u, uint16_t offset, int is_write,
		 uint8_t *val);
/* Queues received bytes as far as the receive FIFO has room; returns how
 * many it took (the caller keeps the rest for later). Thread-safe. */
size_t vmm_uart_input(struct vmm_uart *u, const uint8_t *buf, size_t len);
/* Registers, FIFO and line state as a blob (see uart.c for the layout);
 * writes at most `cap` bytes and returns the length or -ENOSPC. */
int vmm_uart_save(struct vmm_uart *u, void *buf, size_t cap);
/* Loads a blob from vmm_uart_save (hostile: checked). 0 or -EINVAL. */
int vmm_uart_load(struct vmm_uart *u, const void *buf, size_t len);
void vmm_uart_free(struct vmm_uart *u);

#endif
